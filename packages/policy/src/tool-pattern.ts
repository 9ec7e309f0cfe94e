/** Tests a namespaced tool name against one compiled pattern. */
export type ToolMatcher = (tool: string) => boolean;

/**
 * Compiles a tool pattern: `*` matches any run of characters (including none, including `_`, `/`
 * and newlines); every other character matches itself; the match is anchored at both ends.
 *
 * No regular expression is built: the pattern is split at `*` into literal pieces; the first must
 * be a prefix, the last a suffix, and the ones between are found left to right with `indexOf`
 * (leftmost placement is always safe for `*`-only globs). Cost is O(pattern × name) in the worst
 * case with no backtracking blow-up, whatever the (possibly hostile) tool name.
 */
export function compileToolPattern(pattern: string): ToolMatcher {
  if (!pattern.includes('*')) return (tool) => tool === pattern;
  const pieces = pattern.split('*');
  const head = pieces[0]!;
  const tail = pieces[pieces.length - 1]!;
  const middle = pieces.slice(1, -1).filter((p) => p.length > 0);
  if (head.length === 0 && tail.length === 0 && middle.length === 0) return () => true;
  const fixed = head.length + tail.length;
  return (tool) => {
    if (tool.length < fixed || !tool.startsWith(head) || !tool.endsWith(tail)) return false;
    let from = head.length;
    const end = tool.length - tail.length;
    for (const piece of middle) {
      const at = tool.indexOf(piece, from);
      if (at < 0 || at + piece.length > end) return false;
      from = at + piece.length;
    }
    return true;
  };
}

/**
 * Casbin matcher function over the same semantics: `toolMatch(r.obj, p.obj)`. Compiled patterns
 * are cached per function instance (one per enforcer), bounded by the policy's distinct patterns.
 */
export function createToolMatchFunction(): (tool: string, pattern: string) => boolean {
  const compiled = new Map<string, ToolMatcher>();
  return (tool, pattern) => {
    let matcher = compiled.get(pattern);
    if (matcher === undefined) {
      matcher = compileToolPattern(pattern);
      compiled.set(pattern, matcher);
    }
    return matcher(tool);
  };
}
