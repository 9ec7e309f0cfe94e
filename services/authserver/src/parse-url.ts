/**
 * `new URL(input, base)`, or null when it is not a URL. `URL.parse` does the same from Node 20.18
 * (22.1 on the current line); this runs on every Node 20 the package's `engines` admits.
 */
export function parseUrl(input: string, base?: string): URL | null {
  try {
    return new URL(input, base);
  } catch {
    return null;
  }
}
