import { StoreError } from './errors.js';

/**
 * Keyset cursors: an opaque base64url token carrying the sort key of the last item of a page and
 * the name of the query it belongs to, so a cursor from one listing is refused by another.
 */
interface CursorKey {
  q: string;
  ts: string;
  id: string;
}

export function encodeCursor(query: string, ts: string, id: string): string {
  return Buffer.from(JSON.stringify({ q: query, ts, id } satisfies CursorKey), 'utf8').toString('base64url');
}

/** Decodes a cursor of `query`. Throws `GH_ERR_STORE_CURSOR` (status 400) for anything else. */
export function decodeCursor(query: string, cursor: string): { ts: string; id: string } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new StoreError('GH_ERR_STORE_CURSOR', 'cursor: not a cursor issued by this API', { cause });
  }
  const key = value as Partial<CursorKey> | null;
  if (
    typeof key !== 'object' ||
    key === null ||
    key.q !== query ||
    typeof key.ts !== 'string' ||
    !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/.test(key.ts) ||
    typeof key.id !== 'string' ||
    key.id.length === 0 ||
    key.id.length > 256
  ) {
    throw new StoreError('GH_ERR_STORE_CURSOR', `cursor: not a cursor of ${query}`);
  }
  return { ts: key.ts, id: key.id };
}
