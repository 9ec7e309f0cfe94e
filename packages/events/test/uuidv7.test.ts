import { describe, expect, it } from 'vitest';
import { uuidv7, uuidv7Time } from '../src/index.js';

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('has the RFC 9562 layout: version nibble 7 and variant bits 10', () => {
    for (let i = 0; i < 200; i++) {
      const id = uuidv7();
      expect(id).toMatch(FORMAT);
      const hex = id.replace(/-/g, '');
      expect(hex[12]).toBe('7');
      expect(parseInt(hex[16] as string, 16) >> 2).toBe(0b10);
    }
  });

  it('embeds the given millisecond timestamp, which uuidv7Time extracts', () => {
    const ms = Date.UTC(2030, 5, 15, 12, 0, 0, 123);
    expect(uuidv7Time(uuidv7(ms))).toBe(ms);
  });

  it('is strictly increasing for ids minted within one millisecond', () => {
    const ms = Date.UTC(2031, 0, 1);
    const ids = Array.from({ length: 2000 }, () => uuidv7(ms));
    for (let i = 1; i < ids.length; i++) expect((ids[i] as string) > (ids[i - 1] as string)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('stays monotonic when the counter of one millisecond runs out (borrows the next ms)', () => {
    const ms = Date.UTC(2032, 0, 1);
    const ids = Array.from({ length: 5000 }, () => uuidv7(ms));
    const sorted = [...ids].sort();
    expect(ids).toEqual(sorted);
    expect(uuidv7Time(ids.at(-1) as string)).toBeGreaterThanOrEqual(ms);
  });

  it('sorts by time across milliseconds', () => {
    const a = uuidv7(Date.UTC(2033, 0, 1));
    const b = uuidv7(Date.UTC(2033, 0, 1) + 1);
    expect(a < b).toBe(true);
  });

  it('never goes backwards when the clock does', () => {
    const later = uuidv7(Date.UTC(2035, 0, 1));
    const earlier = uuidv7(Date.UTC(2034, 0, 1));
    expect(earlier > later).toBe(true);
  });
});
