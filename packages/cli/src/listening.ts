import { CliError } from './errors.js';

/** What chose where a server listens: its port and its address, as the user sets them. */
export interface ListenChoice {
  what: string;
  port: number;
  /** What sets the port, e.g. `GATEHOUSE_QUERY_PORT` (and a resource URI naming it). */
  portFrom: string;
  host: string;
  /** What sets the address, e.g. `GATEHOUSE_HOST`. */
  hostFrom: string;
}

/** Why a server could not listen, by the code of the system error under it, and what to do. */
const LISTEN_PROBLEMS: Readonly<Record<string, (choice: ListenChoice) => string>> = {
  EADDRINUSE: (c) =>
    `${c.portFrom}: the ${c.what} cannot listen on port ${c.port} (EADDRINUSE): the port is in use: stop what holds it, or move ${c.portFrom} to a free port`,
  EACCES: (c) =>
    `${c.portFrom}: the ${c.what} cannot listen on port ${c.port} (EACCES): a port below 1024 needs privileges; move ${c.portFrom} to another`,
  EADDRNOTAVAIL: (c) =>
    `${c.hostFrom}: the ${c.what} cannot listen on ${c.host} (EADDRNOTAVAIL): not an address of this machine`,
};

/**
 * Starts listening, turning a refusal of the system into an error naming what chose the port or
 * the address (`GATEHOUSE_*_PORT`, a resource URI, `GATEHOUSE_HOST`) instead of Node's stack trace.
 */
export async function listening<T>(choice: ListenChoice, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) {
      // Only the system's refusal to listen: an EACCES from reading a file or an EADDRNOTAVAIL
      // from connecting to Kafka on the way is not about the port.
      const { code, syscall } = cause as NodeJS.ErrnoException;
      const problem = code === undefined || syscall !== 'listen' ? undefined : LISTEN_PROBLEMS[code];
      if (problem !== undefined) throw new CliError('GH_ERR_CONFIG_ENV', problem(choice), error);
    }
    throw error;
  }
}
