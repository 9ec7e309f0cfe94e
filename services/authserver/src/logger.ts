/**
 * The logging the authserver needs; a pino logger satisfies it. Objects first, message second;
 * nothing secret (secrets, tokens, codes) is ever passed.
 */
export interface AuthServerLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
