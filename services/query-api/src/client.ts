/**
 * `@gatehouse/query-api/client`: what a client of the query API needs at run time — its errors and
 * the time words it shares with the server — without the server (Fastify, the store, chDB). The
 * answers' types come from the package's main entry (`import type`, erased at run time).
 */
export * from './errors.js';
export {
  resolveInstant,
  resolveWindow,
  isTimeZone,
  type ResolvedWindow,
  type TimeWindow,
} from './time-window.js';
