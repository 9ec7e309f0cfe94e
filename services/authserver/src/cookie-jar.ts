/**
 * The smallest cookie jar that carries one authorization flow against one origin: cookies by name,
 * paths and domains ignored (every cookie the authserver sets has a distinct name), deletions
 * (empty value, `Max-Age<=0`, or an `Expires` in the past) honoured.
 */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  /** Records the `Set-Cookie` headers of a response. */
  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || attributes.some(isExpiry)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  /** The `Cookie` request header value, or undefined when the jar is empty. */
  header(): string | undefined {
    if (this.#cookies.size === 0) return undefined;
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

function isExpiry(attribute: string): boolean {
  const [rawName = '', rawValue = ''] = attribute.split('=', 2);
  const name = rawName.trim().toLowerCase();
  if (name === 'max-age') return Number(rawValue.trim()) <= 0;
  if (name === 'expires') return Date.parse(rawValue.trim()) <= Date.now();
  return false;
}
