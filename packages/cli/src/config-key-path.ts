/**
 * The path of a configuration key as errors print it and the README shows it: object keys joined
 * with dots, array indices in brackets (`policy.rules[3][2]`, as policy loading writes them); a key
 * that is not a plain name is quoted in brackets (`upstreams["my server"].url`). An empty path is
 * the document itself, `(root)`.
 */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (typeof key === 'symbol') text += `[${key.toString()}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(key)) text += text === '' ? key : `.${key}`;
    else text += `[${JSON.stringify(key)}]`;
  }
  return text === '' ? '(root)' : text;
}
