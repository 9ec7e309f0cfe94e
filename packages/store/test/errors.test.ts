import { describe, expect, it } from 'vitest';
import { StoreError, translateClickHouseError } from '../src/index.js';

function clickhouseError(code: string, type: string, message: string): Error {
  return Object.assign(new Error(message), { code, type });
}

describe('translating ClickHouse and transport errors', () => {
  it('marks a rejected statement as GH_ERR_STORE_QUERY, not retryable, naming the operation and code', () => {
    const error = translateClickHouseError(
      'activity of gatehouse.events',
      clickhouseError('60', 'UNKNOWN_TABLE', 'Unknown table gatehouse.events'),
    );
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({
      code: 'GH_ERR_STORE_QUERY',
      retryable: false,
      status: 500,
      clickhouseCode: 60,
      operation: 'activity of gatehouse.events',
    });
    expect(error.message).toBe(
      'activity of gatehouse.events failed: ClickHouse error 60 UNKNOWN_TABLE: Unknown table gatehouse.events',
    );
  });

  it('marks pressure and timeouts on the server as retryable GH_ERR_STORE_UNAVAILABLE', () => {
    for (const [code, type] of [
      ['252', 'TOO_MANY_PARTS'],
      ['241', 'MEMORY_LIMIT_EXCEEDED'],
      ['159', 'TIMEOUT_EXCEEDED'],
    ] as const) {
      expect(translateClickHouseError('insert', clickhouseError(code, type, type))).toMatchObject({
        code: 'GH_ERR_STORE_UNAVAILABLE',
        retryable: true,
        status: 503,
      });
    }
  });

  it('marks a refused or reset connection as retryable GH_ERR_STORE_UNAVAILABLE', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
    expect(translateClickHouseError('insert', refused)).toMatchObject({
      code: 'GH_ERR_STORE_UNAVAILABLE',
      retryable: true,
    });
    expect(translateClickHouseError('query', new Error('Timeout error.'))).toMatchObject({ retryable: true });
  });

  it('reports a closed connection as GH_ERR_STORE_CLOSED and keeps the cause', () => {
    const cause = new Error('ChdbConnection is closed');
    const error = translateClickHouseError('event count of gatehouse.events', cause);
    expect(error).toMatchObject({ code: 'GH_ERR_STORE_CLOSED', retryable: false });
    expect(error.cause).toBe(cause);
  });

  it('passes an already translated error through unchanged', () => {
    const original = new StoreError('GH_ERR_STORE_CURSOR', 'cursor: bad');
    expect(translateClickHouseError('x', original)).toBe(original);
  });
});
