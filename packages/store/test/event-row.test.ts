import { computeEventHash } from '@gatehouse/events';
import { describe, expect, it } from 'vitest';
import { eventToRow, rowToEvent } from '../src/index.js';
import { rowValues } from '../src/event-row.js';
import { EVENT_COLUMN_NAMES } from '../src/migrations.js';
import { SampleEvents } from './sample-events.js';

const sample = new SampleEvents();
const events = [
  sample.policy(Date.UTC(2026, 0, 1)),
  sample.catalog('support', Date.UTC(2026, 0, 1), ['read_ticket']),
  ...sample.session('s', 'bot', Date.UTC(2026, 0, 2), [
    { tool: 't1', result: 'ok' },
    { tool: 't2', result: 'denied' },
    { tool: 't3', result: 'failed' },
    { tool: 't4', result: 'tool-error' },
  ]),
];

describe('event ↔ row mapping', () => {
  it('has one row column per table column, in table order', () => {
    for (const event of events) {
      const row = eventToRow(event);
      expect(Object.keys(row)).toEqual([...EVENT_COLUMN_NAMES]);
      expect(rowValues(row)).toEqual(EVENT_COLUMN_NAMES.map((column) => row[column]));
    }
  });

  it('rebuilds every event type exactly, so its hash still verifies', () => {
    for (const event of events) {
      const row = eventToRow(event);
      // As read back: UInt64 columns arrive as decimal strings.
      const readBack = {
        ...row,
        seq: String(row.seq),
        outcome_result_bytes: row.outcome_result_bytes === null ? null : String(row.outcome_result_bytes),
      };
      const rebuilt = rowToEvent(readBack);
      expect(rebuilt).toEqual(event);
      expect(computeEventHash(rebuilt)).toBe(event.hash);
    }
  });

  it('changes the rebuilt hash when any single column is altered', () => {
    const event = events.find((e) => e.type === 'call.completed')!;
    const row = eventToRow(event);
    const edits: Partial<typeof row> = {
      type: 'call.failed',
      ts: '2026-01-02 00:00:00.999',
      agent: 'someone-else',
      user: null,
      scopes: [],
      tool: 'other',
      args: '{"ticket":1}',
      decision_allowed: false,
      decision_rule: 'x',
      outcome_status: 'error',
      outcome_latency_ms: 1,
      outcome_result_bytes: 1,
      outcome_error: 'x',
      data: '{"x":1}',
      prev_hash: '1'.repeat(64),
      seq: 99,
    };
    for (const [column, value] of Object.entries(edits)) {
      const rebuilt = rowToEvent({ ...row, [column]: value });
      expect(computeEventHash(rebuilt), column).not.toBe(event.hash);
    }
  });

  it('refuses a ts that DateTime64 cannot hold exactly', () => {
    const event = { ...events[0]!, ts: '1800-01-01T00:00:00.000Z' };
    expect(() => eventToRow(event)).toThrow(/ts .* between 1900 and 2299/);
  });
});
