import { describe, expect, it } from 'vitest';
import { QueryApiError, resolveInstant, resolveWindow, wallClockToUtc } from '../src/index.js';

const iso = (d: Date) => d.toISOString();

describe('resolveWindow', () => {
  // Tuesday 24 Nov 2026, 20:00 UTC: already Wednesday morning in Auckland, still Tuesday noon in Los Angeles.
  const now = new Date('2026-11-24T20:00:00Z');

  it('reads "last tuesday" as the whole local day in Pacific/Auckland (UTC+13 in summer)', () => {
    const w = resolveWindow('last tuesday', 'Pacific/Auckland', now);
    expect([iso(w.from), iso(w.to)]).toEqual(['2026-11-23T11:00:00.000Z', '2026-11-24T11:00:00.000Z']);
  });

  it('reads "last tuesday" as the previous week\'s Tuesday in America/Los_Angeles, where it is Tuesday now', () => {
    const w = resolveWindow('last tuesday', 'America/Los_Angeles', now);
    expect([iso(w.from), iso(w.to)]).toEqual(['2026-11-17T08:00:00.000Z', '2026-11-18T08:00:00.000Z']);
  });

  it('reads a time range on a relative day in the given zone', () => {
    const w = resolveWindow('yesterday 14:00-16:00', 'Europe/Berlin', now);
    expect([iso(w.from), iso(w.to)]).toEqual(['2026-11-23T13:00:00.000Z', '2026-11-23T15:00:00.000Z']);
  });

  it('reads "past 2 hours" as the two hours up to now', () => {
    const w = resolveWindow('past 2 hours', 'Europe/Berlin', now);
    expect([iso(w.from), iso(w.to)]).toEqual(['2026-11-24T18:00:00.000Z', '2026-11-24T20:00:00.000Z']);
  });

  it('reads "today" as the local calendar day', () => {
    const w = resolveWindow('today', 'Europe/Berlin', now);
    expect([iso(w.from), iso(w.to)]).toEqual(['2026-11-23T23:00:00.000Z', '2026-11-24T23:00:00.000Z']);
  });

  it('gives a 23-hour day when the clocks spring forward', () => {
    const w = resolveWindow('2026-03-29', 'Europe/Berlin', new Date('2026-04-02T12:00:00Z'));
    expect([iso(w.from), iso(w.to)]).toEqual(['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
  });

  it('reads this / previous week, this / last month and last year as local calendar periods', () => {
    const window = (when: string) => {
      const w = resolveWindow(when, 'Europe/Berlin', now);
      return [iso(w.from), iso(w.to)];
    };
    expect(window('this week')).toEqual(['2026-11-22T23:00:00.000Z', '2026-11-29T23:00:00.000Z']);
    expect(window('previous week')).toEqual(['2026-11-15T23:00:00.000Z', '2026-11-22T23:00:00.000Z']);
    // October starts in summer time (UTC+2) and ends in winter time (UTC+1).
    expect(window('last month')).toEqual(['2026-09-30T22:00:00.000Z', '2026-10-31T23:00:00.000Z']);
    expect(window('this month')).toEqual(['2026-10-31T23:00:00.000Z', '2026-11-30T23:00:00.000Z']);
    expect(window('last year')).toEqual(['2024-12-31T23:00:00.000Z', '2025-12-31T23:00:00.000Z']);
    // "last week" alone stays the rolling seven days, as "last N weeks" reads.
    expect(window('last week')).toEqual(['2026-11-17T20:00:00.000Z', '2026-11-24T20:00:00.000Z']);
  });

  it('refuses a window that starts in the future instead of answering it with nothing', () => {
    for (const when of ['tomorrow', 'friday 23:00 - 01:00']) {
      expect(() => resolveWindow(when, 'Europe/Berlin', now), when).toThrow(
        /querystring\/when starts in the future/,
      );
    }
  });

  it('refuses numeric dates that read differently month-first and day-first', () => {
    for (const when of ['3/4', '03/04/2026', '3.4.2026 10:00']) {
      expect(() => resolveWindow(when, 'Europe/Berlin', now), when).toThrow(
        /querystring\/when has a numeric date .* ISO date such as 2026-03-04/,
      );
    }
    expect(iso(resolveWindow('2026-03-04', 'Europe/Berlin', now).from)).toBe('2026-03-03T23:00:00.000Z');
  });

  it('refuses words that are not a date, naming the when parameter', () => {
    expect(() => resolveWindow('yesterdayy', 'UTC', now)).toThrow(QueryApiError);
    expect(() => resolveWindow('yesterdayy', 'UTC', now)).toThrow(/^querystring\/when is not a date/);
    expect(() => resolveWindow('last tuesday and more', 'UTC', now)).toThrow(/querystring\/when/);
  });

  it('refuses an unknown time zone, naming the tz parameter', () => {
    expect(() => resolveWindow('today', 'Mars/Olympus_Mons', now)).toThrow(
      /^querystring\/tz must be an IANA time zone/,
    );
  });
});

describe('resolveInstant', () => {
  const now = new Date('2026-11-24T20:00:00Z');

  it('takes ISO 8601 as is and words in the given zone', () => {
    expect(iso(resolveInstant('2026-11-01T10:00:00+01:00', 'UTC', now, '--at'))).toBe(
      '2026-11-01T09:00:00.000Z',
    );
    expect(iso(resolveInstant('yesterday 14:00', 'Europe/Berlin', now, '--at'))).toBe(
      '2026-11-23T13:00:00.000Z',
    );
  });

  it('names the flag and the value it could not read', () => {
    expect(() => resolveInstant('yesterdayy', 'UTC', now, '--at')).toThrow(
      '--at: "yesterdayy" is not a date or time',
    );
  });
});

describe('wallClockToUtc', () => {
  it('takes the earlier instant in the autumn overlap', () => {
    expect(iso(wallClockToUtc('Europe/Berlin', 2026, 10, 25, 2, 30))).toBe('2026-10-25T00:30:00.000Z');
  });
});
