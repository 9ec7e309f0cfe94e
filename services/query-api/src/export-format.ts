import type { GatehouseEvent } from '@gatehouse/events';

/** Formats `activity` can be exported in. */
export const EXPORT_FORMATS = ['json', 'ndjson', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Columns of the CSV export, in order. Nested values are flattened (`decision.allowed` → `allowed`). */
export const CSV_COLUMNS = [
  'ts',
  'id',
  'type',
  'session_id',
  'seq',
  'agent',
  'user',
  'server',
  'tool',
  'request_id',
  'allowed',
  'rule',
  'policy_version',
  'status',
  'latency_ms',
  'error',
  'args_sha256',
  'hash',
] as const;

/**
 * Picks the export format: `?format=` wins; otherwise `Accept: application/x-ndjson` or `text/csv`;
 * otherwise JSON.
 */
export function negotiateFormat(format: ExportFormat | undefined, accept: string | undefined): ExportFormat {
  if (format !== undefined) return format;
  const value = (accept ?? '').toLowerCase();
  if (value.includes('application/x-ndjson') || value.includes('application/jsonl')) return 'ndjson';
  if (value.includes('text/csv')) return 'csv';
  return 'json';
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV header line (with CRLF, RFC 4180). */
export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

/** One event as a CSV record (with CRLF). */
export function csvLine(event: GatehouseEvent): string {
  const flat: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    ts: event.ts,
    id: event.id,
    type: event.type,
    session_id: event.session_id,
    seq: event.seq,
    agent: event.agent,
    user: event.user,
    server: event.server,
    tool: event.tool,
    request_id: event.request_id,
    allowed: event.decision?.allowed,
    rule: event.decision?.rule,
    policy_version: event.decision?.policy_version,
    status: event.outcome?.status,
    latency_ms: event.outcome?.latency_ms,
    error: event.outcome?.error,
    args_sha256: event.args_sha256,
    hash: event.hash,
  };
  return `${CSV_COLUMNS.map((c) => csvCell(flat[c])).join(',')}\r\n`;
}
