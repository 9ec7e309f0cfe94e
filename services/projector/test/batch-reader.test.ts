import type { LogBatch } from '@gatehouse/eventlog';
import { describe, expect, it } from 'vitest';
import { assembledToken } from '../src/batch-reader.js';

const batch = (token: string, firstOffset: string, lastOffset: string): LogBatch => ({
  partition: 3,
  firstOffset,
  lastOffset,
  events: [],
  token,
});

describe('assembled batch tokens', () => {
  it('extend the adapter token format <topic>/<partition>/<first>-<last> to the new last offset', () => {
    expect(assembledToken(batch('embedded/0/10-19', '10', '19'), '42')).toBe('embedded/0/10-42');
    expect(assembledToken(batch('gatehouse.events/3/100-100', '100', '100'), '250')).toBe(
      'gatehouse.events/3/100-250',
    );
  });

  it('fall back to a suffix for tokens of another shape, still deterministic', () => {
    expect(assembledToken(batch('opaque', '1', '2'), '9')).toBe('opaque..9');
  });
});
