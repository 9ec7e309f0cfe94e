import type { GatehouseEvent } from '@gatehouse/events';
import type { LogBatch } from '../event-log.js';
import { LogError } from '../errors.js';

/** The embedded log has one partition; its "topic" in batch tokens is `embedded`. */
export const EMBEDDED_TOPIC = 'embedded';
export const EMBEDDED_PARTITION = 0;

/**
 * A batch of the embedded log starting at `firstOffset`. Its token is
 * `embedded/0/<first>-<last>`; an empty batch has `lastOffset = firstOffset - 1` and is never
 * committed, so its token is never used downstream.
 */
export function embeddedBatch(firstOffset: number, events: readonly GatehouseEvent[]): LogBatch {
  const lastOffset = firstOffset + events.length - 1;
  return {
    partition: EMBEDDED_PARTITION,
    firstOffset: String(firstOffset),
    lastOffset: String(lastOffset),
    events,
    token: `${EMBEDDED_TOPIC}/${EMBEDDED_PARTITION}/${firstOffset}-${lastOffset}`,
  };
}

/** Parses a decimal offset string; `what` names the field in the error. */
export function parseOffset(value: string | number, what: string): number {
  const parsed = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < 0) {
    throw new LogError(
      'GH_ERR_LOG_CONFIG',
      `${what} must be a non-negative decimal offset, got ${JSON.stringify(value)}`,
    );
  }
  return parsed;
}
