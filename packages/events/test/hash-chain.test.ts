import { describe, expect, it } from 'vitest';
import {
  ChainRegistry,
  GENESIS_HASH,
  canonicalJson,
  encodeEvent,
  computeEventHash,
  sealEvent,
  sha256Hex,
} from '../src/index.js';
import { buildChain, ctx, draftsByType } from './fixtures.js';

describe('hash chain', () => {
  it('numbers a session gaplessly from 0 and links each event to the previous hash', () => {
    const chain = buildChain(6);
    chain.forEach((event, i) => {
      expect(event.seq).toBe(i);
      expect(event.prev_hash).toBe(i === 0 ? GENESIS_HASH : chain[i - 1]?.hash);
    });
  });

  it('seq 0 links to GENESIS_HASH (64 zeros)', () => {
    expect(GENESIS_HASH).toBe('0'.repeat(64));
    expect(sealEvent(draftsByType()['session.ended'], undefined)).toMatchObject({
      seq: 0,
      prev_hash: GENESIS_HASH,
    });
  });

  it('hash is SHA-256 over the canonical JSON of the event without hash', () => {
    const [event] = buildChain(1);
    const { hash, ...rest } = event!;
    expect(hash).toBe(sha256Hex(canonicalJson(rest)));
    expect(computeEventHash(event!)).toBe(hash);
  });

  it('keeps one chain per session or stream', () => {
    const registry = new ChainRegistry();
    const drafts = draftsByType();
    const a0 = registry.seal(drafts['session.started']);
    const p0 = registry.seal(drafts['policy.published']);
    const a1 = registry.seal(drafts['call.attempted']);
    const other = registry.seal(draftsByType({ ...ctx, session_id: 'sess-2' })['session.started']);
    expect([a0.seq, p0.seq, a1.seq, other.seq]).toEqual([0, 0, 1, 0]);
    expect(a1.prev_hash).toBe(a0.hash);
    expect(registry.head('sess-1')).toEqual({ seq: 1, hash: a1.hash });
  });

  it('rewind undoes a refused seal so the next one reuses its seq', () => {
    const registry = new ChainRegistry();
    const drafts = draftsByType();
    const first = registry.seal(drafts['session.started']);
    const before = registry.head('sess-1');
    registry.seal(drafts['call.attempted']);
    registry.rewind('sess-1', before);
    const retried = registry.seal(drafts['call.attempted']);
    expect(retried.seq).toBe(1);
    expect(retried.prev_hash).toBe(first.hash);
  });

  it('restore continues a named stream from a head read back at start-up', () => {
    const registry = new ChainRegistry();
    registry.restore('policy', { seq: 9, hash: 'a'.repeat(64) });
    const next = registry.seal(draftsByType()['policy.published']);
    expect(next).toMatchObject({ seq: 10, prev_hash: 'a'.repeat(64) });
  });

  it('seals events frozen, and encodes each exactly as canonical JSON of the whole event', () => {
    const registry = new ChainRegistry();
    for (const draft of Object.values(draftsByType())) {
      const event = registry.seal({ ...draft, session_id: 'sess-codec' } as typeof draft);
      expect(Object.isFrozen(event)).toBe(true);
      expect(encodeEvent(event).toString('utf8')).toBe(canonicalJson(event));
      expect(computeEventHash(event)).toBe(event.hash);
    }
  });

  it('encodes a draft with other members than the envelope generically, with the same result', () => {
    const draft = draftsByType()['call.completed'];
    const { user_agent: _dropped, ...missing } = draft as typeof draft & { user_agent: unknown };
    const variants = [
      { ...draft, zzz_extra: 1, aaa_extra: { b: 2, a: [1, 'x'] } },
      missing,
      { ...draft, tool: undefined },
      { ...draft, args: { z: 1, a: { y: null, b: 'é"\\n' } } },
      // Sealed before, with a member the envelope does not have: the stale link is replaced.
      { ...sealEvent(draft, undefined), extra: 1 },
    ];
    for (const variant of variants) {
      const event = sealEvent(variant as typeof draft, { seq: 6, hash: 'e'.repeat(64) });
      expect(event).toMatchObject({ seq: 7, prev_hash: 'e'.repeat(64) });
      expect(encodeEvent(event).toString('utf8')).toBe(canonicalJson(event));
      expect(computeEventHash(event)).toBe(event.hash);
    }
  });

  it('seals an already sealed event again onto a new head: the new link wins', () => {
    const first = sealEvent(draftsByType()['call.attempted'], undefined);
    const head = { seq: 41, hash: 'c'.repeat(64) };
    const again = sealEvent(first as unknown as Parameters<typeof sealEvent>[0], head);
    expect(again).toMatchObject({ id: first.id, seq: 42, prev_hash: 'c'.repeat(64) });
    expect(again.hash).not.toBe(first.hash);
    expect(computeEventHash(again)).toBe(again.hash);
    expect(encodeEvent(again).toString('utf8')).toBe(canonicalJson(again));
  });

  it('gives every sealed event the members of the envelope, each once', () => {
    for (const draft of Object.values(draftsByType())) {
      const event = sealEvent(draft, { seq: 0, hash: 'd'.repeat(64) });
      expect(Object.keys(event).sort()).toEqual([...Object.keys(draft), 'seq', 'prev_hash', 'hash'].sort());
      expect(event).toMatchObject(draft);
    }
  });
});
