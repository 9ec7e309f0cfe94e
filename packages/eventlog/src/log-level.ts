import { LogError } from './errors.js';

/** The levels `LOG_LEVEL` may name (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * `LOG_LEVEL` of every Gatehouse process: undefined when unset or empty (the process's default);
 * a level pino does not know is a `GH_ERR_LOG_CONFIG` naming the variable and the levels, rather
 * than pino's own "unknown level" from deep inside start-up.
 */
export function logLevelFromEnv(env: NodeJS.ProcessEnv): LogLevel | undefined {
  const raw = env.LOG_LEVEL;
  if (raw === undefined || raw === '') return undefined;
  if (!(LOG_LEVELS as readonly string[]).includes(raw))
    throw new LogError('GH_ERR_LOG_CONFIG', `LOG_LEVEL: "${raw}" is not one of ${LOG_LEVELS.join(', ')}`);
  return raw as LogLevel;
}
