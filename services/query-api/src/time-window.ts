// The English parser only: the package's main entry loads every locale (over 900 modules).
import type { ParsedComponents } from 'chrono-node';
import * as chrono from 'chrono-node/en';
import { badRequest, QueryApiError } from './errors.js';

/** A half-open UTC interval `[from, to)`. */
export interface TimeWindow {
  readonly from: Date;
  readonly to: Date;
}

/** A window resolved from words, with what it was resolved from. */
export interface ResolvedWindow extends TimeWindow {
  readonly when: string;
  readonly tz: string;
}

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 } as const;
/** The longest `past N …` window (ms): about 100 years. */
const MAX_RELATIVE_MS = 100 * 366 * 86_400_000;
const RELATIVE = /^(?:past|last)\s+(?:(\d+)\s+)?(minute|hour|day|week)s?$/i;
/** A calendar period: this week (Monday first) / month / year, or the one before. */
const CALENDAR = /^(this|last|previous)\s+(week|month|year)$/i;
/** A numeric day such as 3/4 or 03.04.2026: month-first or day-first depends on who wrote it. */
const AMBIGUOUS_NUMERIC_DATE = /(^|\s)\d{1,2}[/.]\d{1,2}([/.]\d{2,4})?(?=$|\s|,)/;

/** True when `tz` is an IANA time zone name this runtime knows (or `UTC`). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const MAX_FORMATTERS = 512;
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    // Bounded: `Intl` accepts any capitalisation of a zone name, so callers can mint new keys.
    if (formatters.size >= MAX_FORMATTERS) formatters.clear();
    formatters.set(tz, f);
  }
  return f;
}

/** Offset of `tz` from UTC at `instantMs`, in minutes (Berlin in winter: +60). */
export function zoneOffsetMinutes(tz: string, instantMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(instantMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const asUtc = Date.UTC(
    parts.year!,
    parts.month! - 1,
    parts.day!,
    parts.hour!,
    parts.minute!,
    parts.second!,
  );
  return Math.round((asUtc - Math.floor(instantMs / 1000) * 1000) / 60_000);
}

/**
 * The UTC instant at which the wall clock in `tz` shows the given time. Month is 1-based; values out
 * of range roll over (day 32 → next month). In a DST gap the later offset wins; in an overlap, the
 * earlier instant.
 */
export function wallClockToUtc(tz: string, y: number, mo: number, d: number, h = 0, mi = 0, s = 0): Date {
  const guess = Date.UTC(y, mo - 1, d, h, mi, s);
  // Every offset in force within a day of the guess: one of them is the right one (or two, in an overlap).
  const offsets = new Set([-86_400_000, 0, 86_400_000].map((d) => zoneOffsetMinutes(tz, guess + d) * 60_000));
  const candidates = [...offsets].map((offset) => guess - offset);
  const valid = candidates.filter((t) => guess - t === zoneOffsetMinutes(tz, t) * 60_000);
  // Overlap (clocks turned back): both are valid, take the earlier. Gap: neither, take the later.
  return new Date(valid.length > 0 ? Math.min(...valid) : Math.max(...candidates));
}

/**
 * Resolves words such as "last tuesday", "yesterday 14:00-16:00", "past 2 hours" or "today" into a
 * UTC window, reading them as a person in `tz` (IANA name) would at `now`.
 *
 * - a day without a time → that whole day, local midnight to local midnight
 * - a time range → exactly that range; a single time → the hour starting then
 * - "past|last N minutes|hours|days|weeks" → `[now − N units, now)`
 *
 * Pure. Throws `QueryApiError` (400) naming `field` (default `querystring/when`, or `tzField` for
 * the zone) when the words are not a date or the zone is unknown.
 */
export function resolveWindow(
  when: string,
  tz: string,
  now: Date,
  fields: { when?: string; tz?: string } = {},
): ResolvedWindow {
  const whenField = fields.when ?? 'querystring/when';
  const tzField = fields.tz ?? 'querystring/tz';
  if (!isTimeZone(tz))
    throw badRequest(
      tzField,
      `must be an IANA time zone name such as Europe/Berlin (got ${JSON.stringify(tz)})`,
    );
  const text = when.trim().replace(/\s+/g, ' ');
  const nowMs = now.getTime();

  const relative = RELATIVE.exec(text);
  if (relative) {
    const n = relative[1] === undefined ? 1 : Number(relative[1]);
    const unit = relative[2]!.toLowerCase() as keyof typeof UNIT_MS;
    if (n <= 0) throw badRequest(whenField, `must cover a positive duration (got ${JSON.stringify(when)})`);
    if (n * UNIT_MS[unit] > MAX_RELATIVE_MS)
      throw badRequest(whenField, `must cover at most 100 years (got ${JSON.stringify(when)})`);
    return { when, tz, from: new Date(nowMs - n * UNIT_MS[unit]), to: new Date(nowMs) };
  }

  const calendar = CALENDAR.exec(text);
  if (calendar) {
    // "last week" alone stays the rolling week (RELATIVE, above): "past|last N weeks" reads so.
    const which = calendar[1]!.toLowerCase() === 'this' ? 0 : -1;
    return { when, tz, ...calendarPeriod(calendar[2]!.toLowerCase() as CalendarUnit, which, tz, nowMs) };
  }
  if (AMBIGUOUS_NUMERIC_DATE.test(text))
    throw badRequest(
      whenField,
      `has a numeric date that reads differently month-first and day-first (got ${JSON.stringify(when)}); write it as an ISO date such as 2026-03-04`,
    );

  const results = chrono.parse(
    text,
    { instant: now, timezone: zoneOffsetMinutes(tz, nowMs) },
    { forwardDate: false },
  );
  const result = results[0];
  if (results.length !== 1 || result === undefined || result.text.length !== text.length) {
    throw badRequest(
      whenField,
      `is not a date, time or period I can read (got ${JSON.stringify(when)}); try "last tuesday", "yesterday 14:00-16:00", "past 2 hours" or "today"`,
    );
  }
  const start = instantOf(result.start, tz);
  let end: Date;
  if (result.end !== null && result.end !== undefined) {
    end = result.end.isCertain('hour') ? instantOf(result.end, tz) : dayStart(result.end, tz, 1);
  } else if (result.start.isCertain('hour')) {
    end = new Date(start.getTime() + UNIT_MS.hour);
  } else {
    end = dayStart(result.start, tz, 1);
  }
  const from = result.start.isCertain('hour') ? start : dayStart(result.start, tz, 0);
  if (end.getTime() <= from.getTime()) {
    throw badRequest(whenField, `must end after it starts (got ${JSON.stringify(when)})`);
  }
  if (from.getTime() > nowMs) {
    // Nothing has happened there yet: an empty answer would look like "it did nothing".
    throw badRequest(
      whenField,
      `starts in the future (read as from ${from.toISOString()}; got ${JSON.stringify(when)}); name a past day, e.g. "last friday 23:00-01:00"`,
    );
  }
  return { when, tz, from, to: end };
}

type CalendarUnit = 'week' | 'month' | 'year';

/** The local calendar week (Monday first), month or year containing now (`which` 0) or the one before (−1). */
function calendarPeriod(
  unit: CalendarUnit,
  which: 0 | -1,
  tz: string,
  nowMs: number,
): { from: Date; to: Date } {
  const parts: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(nowMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const y = parts.year!;
  const mo = parts.month!;
  const d = parts.day!;
  if (unit === 'year')
    return { from: wallClockToUtc(tz, y + which, 1, 1), to: wallClockToUtc(tz, y + which + 1, 1, 1) };
  if (unit === 'month')
    return { from: wallClockToUtc(tz, y, mo + which, 1), to: wallClockToUtc(tz, y, mo + which + 1, 1) };
  const sinceMonday = (new Date(Date.UTC(y, mo - 1, d)).getUTCDay() + 6) % 7;
  const monday = d - sinceMonday + 7 * which;
  return { from: wallClockToUtc(tz, y, mo, monday), to: wallClockToUtc(tz, y, mo, monday + 7) };
}

/**
 * Reads one point in time for the CLI: an ISO 8601 date-time, or words ("yesterday 14:00",
 * "2 hours ago") read in `tz` at `now`; a bare day means its local midnight. Throws `QueryApiError`
 * whose message starts with `field:` (`--at: "yesterdayy" is not a date or time`).
 */
export function resolveInstant(text: string, tz: string, now: Date, field: string): Date {
  if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isNaN(ms))
      throw new QueryApiError(
        'GH_ERR_QUERY_BAD_REQUEST',
        `${field}: ${JSON.stringify(text)} is not a date or time`,
      );
    return new Date(ms);
  }
  if (!isTimeZone(tz))
    throw new QueryApiError(
      'GH_ERR_QUERY_BAD_REQUEST',
      `--tz: ${JSON.stringify(tz)} is not an IANA time zone name (e.g. Europe/Berlin)`,
    );
  const trimmed = text.trim();
  const results = chrono.parse(
    trimmed,
    { instant: now, timezone: zoneOffsetMinutes(tz, now.getTime()) },
    { forwardDate: false },
  );
  const result = results[0];
  if (results.length !== 1 || result === undefined || result.text.length !== trimmed.length) {
    throw new QueryApiError(
      'GH_ERR_QUERY_BAD_REQUEST',
      `${field}: ${JSON.stringify(text)} is not a date or time`,
    );
  }
  return result.start.isCertain('hour') || result.start.isCertain('timezoneOffset')
    ? instantOf(result.start, tz)
    : dayStart(result.start, tz, 0);
}

function instantOf(component: ParsedComponents, tz: string): Date {
  // An explicit offset in the text ("…Z", "+02:00") makes chrono's own instant exact.
  if (component.isCertain('timezoneOffset')) return component.date();
  return wallClockToUtc(
    tz,
    component.get('year')!,
    component.get('month')!,
    component.get('day')!,
    component.get('hour') ?? 0,
    component.get('minute') ?? 0,
    component.get('second') ?? 0,
  );
}

function dayStart(component: ParsedComponents, tz: string, plusDays: number): Date {
  return wallClockToUtc(
    tz,
    component.get('year')!,
    component.get('month')!,
    component.get('day')! + plusDays,
  );
}
