import { connect } from 'node:net';

/**
 * Opens a TCP connection to `host:port` and closes it at once: resolves with `connected`,
 * `timeout` (after 2 s) or the connection error's code (`ECONNREFUSED`, …). For tests that check
 * which interfaces a server listens on.
 */
export function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}
