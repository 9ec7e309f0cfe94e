import type { ServerResponse } from 'node:http';
import { LOOPBACK_HOSTNAMES } from './loopback.js';
import { parseUrl } from './parse-url.js';

/**
 * Whether a `Host` header names this server: the issuer's hostname or a loopback name, with the
 * port the server listens on (an absent port means 80). Anything else — a DNS-rebinding page whose
 * name now resolves to 127.0.0.1, a header with userinfo or a path, no header at all — does not.
 *
 * @param issuer the effective issuer (its port is the listening port, or the check at start-up failed).
 * @param port the TCP port the server listens on.
 */
export function allowsHost(issuer: URL, port: number): (host: string | undefined) => boolean {
  const issuerHostname = issuer.hostname.toLowerCase();
  return (host) => {
    if (host === undefined || host === '') return false;
    const url = parseUrl(`http://${host}`);
    if (
      url === null ||
      url.username !== '' ||
      url.password !== '' ||
      url.pathname !== '/' ||
      url.search !== '' ||
      url.hash !== ''
    ) {
      return false;
    }
    const hostPort = url.port === '' ? 80 : Number(url.port);
    const hostname = url.hostname.toLowerCase();
    // Besides the issuer's own hostname, the loopback interface's names.
    return hostPort === port && (hostname === issuerHostname || LOOPBACK_HOSTNAMES.has(hostname));
  };
}

/**
 * Answers a request whose `Host` is not this server's: 403 `invalid_request` with a fixed
 * description (the header is attacker-chosen and is never echoed).
 */
export function refuseHost(res: ServerResponse): void {
  res.writeHead(403, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    JSON.stringify({
      error: 'invalid_request',
      error_description: 'the Host header does not name this authorization server',
    }),
  );
}
