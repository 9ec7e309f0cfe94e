import { canonicalJson, sha256Hex, type CatalogTool } from '@gatehouse/events';
import { PolicyError } from './errors.js';

/** Separator between an upstream's name and its own tool name: `<server>__<tool>`. */
export const TOOL_NAMESPACE_SEPARATOR = '__';

/** What is read of one entry of an upstream's MCP `tools/list` result (the SDK's `Tool` satisfies it). */
export interface McpToolLike {
  readonly name: string;
  readonly description?: string | null | undefined;
  readonly inputSchema?: unknown;
}

/** The namespaced name callers see and the policy decides on. */
export function namespacedToolName(server: string, tool: string): string {
  return `${server}${TOOL_NAMESPACE_SEPARATOR}${tool}`;
}

function byName(a: CatalogTool, b: CatalogTool): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Turns an upstream's `tools/list` result into catalog entries, sorted by name: `name` namespaced
 * `<server>__<tool>`, `description` (null if absent), `input_schema_sha256` = SHA-256 hex of the
 * canonical JSON of `inputSchema` (of `null` if absent). Throws `GH_ERR_POLICY_CATALOG_INVALID` if a
 * tool has no name, the schema cannot be encoded, or two tools share a name.
 */
export function toCatalogTools(server: string, mcpTools: readonly McpToolLike[]): CatalogTool[] {
  const seen = new Set<string>();
  const tools = mcpTools.map((tool, i): CatalogTool => {
    if (typeof tool.name !== 'string' || tool.name.length === 0) {
      throw new PolicyError('GH_ERR_POLICY_CATALOG_INVALID', `upstream ${server}: tools[${i}] has no name`);
    }
    const name = namespacedToolName(server, tool.name);
    if (seen.has(name))
      throw new PolicyError(
        'GH_ERR_POLICY_CATALOG_INVALID',
        `upstream ${server}: tool ${JSON.stringify(name)} is listed twice`,
      );
    seen.add(name);
    let schema: string;
    try {
      schema = canonicalJson(tool.inputSchema ?? null);
    } catch (cause) {
      throw new PolicyError(
        'GH_ERR_POLICY_CATALOG_INVALID',
        `upstream ${server}: tool ${JSON.stringify(name)}: inputSchema is not JSON (${(cause as Error).message})`,
        { cause },
      );
    }
    return { name, description: tool.description ?? null, input_schema_sha256: sha256Hex(schema) };
  });
  return tools.sort(byName);
}

/**
 * The version of a catalog: SHA-256 hex of the canonical JSON of its tools sorted by name — a
 * content hash, independent of the order the upstream listed them in.
 */
export function catalogVersion(tools: readonly CatalogTool[]): string {
  return sha256Hex(canonicalJson([...tools].sort(byName)));
}

/** The `catalog.published` payload for one upstream's `tools/list` result. */
export function catalogPublishedData(
  server: string,
  mcpTools: readonly McpToolLike[],
): { version: string; tools: CatalogTool[] } {
  const tools = toCatalogTools(server, mcpTools);
  return { version: catalogVersion(tools), tools };
}
