import { describe, expect, it } from 'vitest';
import { inCommandTerms } from '../src/query-client.js';

const flags = { 'querystring/when': '--when', 'params/id': 'SESSION', 'querystring/cursor': '--cursor' };

describe("inCommandTerms: the query API's refusals in the command's terms", () => {
  it('puts the flag the user typed in front of a message the field leads', () => {
    expect(inCommandTerms('querystring/when cannot be combined with from/to', flags)).toBe(
      '--when: cannot be combined with from/to',
    );
    expect(inCommandTerms('querystring/cursor: not a cursor issued by this API', flags)).toBe(
      '--cursor: not a cursor issued by this API',
    );
  });

  it('moves a field named after the problem to the front', () => {
    expect(inCommandTerms('no events recorded for session "x" (params/id)', flags)).toBe(
      'SESSION: no events recorded for session "x"',
    );
  });

  it('makes the value the API quotes the subject', () => {
    expect(
      inCommandTerms(
        'querystring/when is not a date, time or period I can read (got "yesterdayy"); try "today"',
        flags,
      ),
    ).toBe('--when: "yesterdayy" is not a date, time or period I can read; try "today"');
    expect(
      inCommandTerms(
        'querystring/when starts in the future (read as from 2026-11-25T00:00:00.000Z; got "to (a) \\"morrow\\""); name a past day',
        flags,
      ),
    ).toBe(
      '--when: "to (a) \\"morrow\\"" starts in the future (read as from 2026-11-25T00:00:00.000Z); name a past day',
    );
  });

  it("names a field it has no flag for by its parameter, never by the API's path", () => {
    expect(inCommandTerms('querystring/from_seq must be >= 0', flags)).toBe('from_seq: must be >= 0');
    expect(inCommandTerms('no policy had been published at 2020-01-01T00:00:00.000Z (querystring/at)')).toBe(
      'at: no policy had been published at 2020-01-01T00:00:00.000Z',
    );
  });

  it('leaves a message that names no field as it is', () => {
    expect(inCommandTerms('the audit store is unavailable; retry later', flags)).toBe(
      'the audit store is unavailable; retry later',
    );
  });
});
