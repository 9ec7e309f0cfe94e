import type { EventRow } from './event-row.js';

/**
 * One event row as a line of ClickHouse `TabSeparated`, columns in `EVENT_COLUMN_NAMES` order —
 * the chDB insert format (about half the parse cost of JSONCompactEachRow in chDB, see
 * BENCHMARKS.md).
 *
 *   String            escaped: `\` → `\\`, TAB → `\t`, LF → `\n`, CR → `\r`; nothing else needs it
 *   NULL              `\N` (a string that is literally `\N` is written `\\N`, so never confused)
 *   Bool              `true` / `false`
 *   numbers           JavaScript's shortest round-trip text (`2.5`, `1e-7`), which ClickHouse reads back
 *   Array(String)     a literal `['a','b\'c']`, read by ClickHouse straight from the line (not
 *                     unescaped as a field first): inside the quotes `\`, `'`, TAB, LF, CR are
 *                     escaped, so the line holds no raw TAB or LF
 *
 * The line ends with LF.
 */
export function tsvLine(row: EventRow): string {
  return (
    `${row.id}\t${tsvString(row.type)}\t${row.v}\t${row.ts}\t${tsvString(row.session_id)}\t${row.seq}\t` +
    `${tsvString(row.prev_hash)}\t${tsvString(row.hash)}\t${tsvNullable(row.agent)}\t${tsvNullable(row.user)}\t` +
    `${tsvArray(row.scopes)}\t${tsvNullable(row.client_ip)}\t${tsvNullable(row.user_agent)}\t` +
    `${tsvNullable(row.server)}\t${tsvNullable(row.tool)}\t${tsvNullable(row.request_id)}\t` +
    `${tsvNullable(row.args)}\t${tsvNullable(row.args_sha256)}\t${tsvValue(row.decision_allowed)}\t` +
    `${tsvNullable(row.decision_rule)}\t${tsvNullable(row.decision_policy_version)}\t` +
    `${tsvNullable(row.outcome_status)}\t${tsvValue(row.outcome_latency_ms)}\t` +
    `${tsvNullable(row.outcome_result_sha256)}\t${tsvValue(row.outcome_result_bytes)}\t` +
    `${tsvNullable(row.outcome_error)}\t${tsvString(row.data)}\n`
  );
}

const NEEDS_ESCAPE = /[\t\n\r\\]/;
const ESCAPED = /[\t\n\r\\]/g;
const ESCAPES: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\\': '\\\\' };

/** A String field. */
export function tsvString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPED, (c) => ESCAPES[c]!) : value;
}

function tsvNullable(value: string | null): string {
  return value === null ? '\\N' : tsvString(value);
}

function tsvValue(value: number | string | boolean | null): string {
  return value === null ? '\\N' : String(value);
}

const QUOTED_ESCAPED = /[\t\n\r\\']/g;
const QUOTED_ESCAPES: Record<string, string> = { ...ESCAPES, "'": "\\'" };

function tsvArray(values: readonly string[]): string {
  let literal = '[';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) literal += ',';
    literal += `'${values[i]!.replace(QUOTED_ESCAPED, (c) => QUOTED_ESCAPES[c]!)}'`;
  }
  return `${literal}]`;
}

/**
 * Collects `tsvLine`s into one Buffer, writing each line as it comes. About twice as fast as
 * joining the lines and encoding the joined string once (measured 6 vs 13 µs an event for batches
 * of 5,000): the joined multi-megabyte string never has to be flattened.
 */
export class TsvPayload {
  #buffer: Buffer;
  #length = 0;

  /** `expectedBytes`: initial capacity; the buffer grows (doubling) as needed. */
  constructor(expectedBytes: number) {
    this.#buffer = Buffer.allocUnsafe(Math.max(4096, expectedBytes));
  }

  add(line: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    const worst = line.length * 3;
    if (this.#length + worst > this.#buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#length + worst));
      this.#buffer.copy(grown, 0, 0, this.#length);
      this.#buffer = grown;
    }
    this.#length += this.#buffer.write(line, this.#length, 'utf8');
  }

  /** The lines written so far (a view of the internal buffer: do not add while it is in use). */
  bytes(): Buffer {
    return this.#buffer.subarray(0, this.#length);
  }
}
