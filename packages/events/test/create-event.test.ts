import { describe, expect, it } from 'vitest';
import { ChainRegistry, computeEventHash, createEvent, events, parseEvent } from '../src/index.js';

const LONE = '\ud800';

describe('createEvent', () => {
  it('makes every string but args well-formed: a lone surrogate becomes U+FFFD, a pair stays', () => {
    const ctx = {
      session_id: 's',
      agent: `bot${LONE}`,
      user: 'alice',
      scopes: [`mcp:tools${LONE}`],
      client_ip: '10.0.0.1',
      user_agent: `ua\udfff`,
    };
    const event = new ChainRegistry().seal(
      events.callFailed(
        ctx,
        {
          server: 'support',
          tool: `support__${'a'.repeat(3)}😀${LONE}`,
          request_id: LONE,
          args: { note: `kept as JSON text ${LONE}` },
          args_sha256: 'a'.repeat(64),
        },
        { allowed: true, rule: 'allow agent:bot *', policy_version: 'b'.repeat(64) },
        {
          status: 'error',
          latency_ms: 1,
          result_sha256: null,
          result_bytes: null,
          error: `upstream said ${LONE}`,
        },
      ),
    );
    expect(event).toMatchObject({
      agent: 'bot\ufffd',
      scopes: ['mcp:tools\ufffd'],
      user_agent: 'ua\ufffd',
      tool: 'support__aaa😀\ufffd',
      request_id: '\ufffd',
      outcome: { error: 'upstream said \ufffd' },
      args: { note: `kept as JSON text ${LONE}` },
    });
    // What a store that keeps UTF-8 reads back (lone surrogates in args survive as JSON escapes).
    const readBack = parseEvent(JSON.parse(JSON.stringify(event)));
    expect(computeEventHash(readBack)).toBe(event.hash);
  });

  it('makes the strings of data well-formed, keys included, copying only what changes', () => {
    const data = { protocol_version: '2025-11-25', client_name: `cli${LONE}`, client_version: null };
    const draft = createEvent('session.started', { session_id: 's' }, data);
    expect(draft.data).toEqual({
      protocol_version: '2025-11-25',
      client_name: 'cli\ufffd',
      client_version: null,
    });
    expect(data.client_name).toBe(`cli${LONE}`);
    const untouched = { protocol_version: null, client_name: 'cli', client_version: null };
    expect(createEvent('session.started', { session_id: 's' }, untouched).data).toBe(untouched);
  });
});
