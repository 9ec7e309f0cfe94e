import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { ChainRegistry, createEvent, parseEvent, type EventOf } from '@gatehouse/events';
import { createMemoryLog } from '@gatehouse/eventlog';
import {
  checkpointKeyPath,
  loadCheckpointKey,
  QueryApiError,
  signCheckpoint,
  MAX_HEADS_PER_CHECKPOINT,
  startCheckpointer,
  verifyCheckpoint,
} from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gh-checkpoint-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const heads = [
  { session_id: 's-1', seq: 4, hash: 'a'.repeat(64) },
  { session_id: 's-2', seq: 0, hash: 'b'.repeat(64) },
];

describe('checkpoint keys', () => {
  it('generates an ES256 key on first use, persists it with mode 0600, and loads the same key again', async () => {
    const first = await loadCheckpointKey({ dataDir: dir });
    const again = await loadCheckpointKey({ dataDir: dir });
    expect(first.alg).toBe('ES256');
    expect(again.kid).toBe(first.kid);
    expect((await stat(checkpointKeyPath(dir))).mode & 0o777).toBe(0o600);
    expect(first.publicJwk).not.toHaveProperty('d');
  });

  it('accepts an Ed25519 PEM from configuration and signs with EdDSA', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const key = await loadCheckpointKey({
      key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    });
    expect(key.alg).toBe('EdDSA');
    const jws = await signCheckpoint({ iat: 1, heads }, key);
    await expect(verifyCheckpoint(jws, key.publicJwk)).resolves.toMatchObject({ iat: 1, heads });
  });

  it('refuses a corrupt key file instead of replacing it, naming the file', async () => {
    const other = await mkdtemp(path.join(os.tmpdir(), 'gh-checkpoint-bad-'));
    await loadCheckpointKey({ dataDir: other });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(checkpointKeyPath(other), '{not json');
    await expect(loadCheckpointKey({ dataDir: other })).rejects.toThrow(checkpointKeyPath(other));
    await rm(other, { recursive: true, force: true });
  });
});

describe('checkpoint JWS', () => {
  it('verifies with the public key and returns the signed heads', async () => {
    const key = await loadCheckpointKey({ dataDir: dir });
    const jws = await signCheckpoint({ iat: 1_700_000_000, heads }, key);
    const payload = await verifyCheckpoint(jws, key.publicKey);
    expect(payload).toEqual({ iat: 1_700_000_000, heads, kid: key.kid });
  });

  it('rejects a checkpoint whose payload was altered after signing', async () => {
    const key = await loadCheckpointKey({ dataDir: dir });
    const jws = await signCheckpoint({ iat: 1, heads }, key);
    const [header, , signature] = jws.split('.');
    const forged = Buffer.from(JSON.stringify({ iat: 1, heads: [{ ...heads[0], seq: 3 }] })).toString(
      'base64url',
    );
    const error = await verifyCheckpoint(`${header}.${forged}.${signature}`, key.publicKey).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(QueryApiError);
    expect((error as QueryApiError).code).toBe('GH_ERR_CHECKPOINT_INVALID');
  });

  it('rejects a checkpoint signed by another key', async () => {
    const key = await loadCheckpointKey({ dataDir: dir });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const stranger = await loadCheckpointKey({
      key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    });
    const jws = await signCheckpoint({ iat: 1, heads }, stranger);
    await expect(verifyCheckpoint(jws, key.publicKey)).rejects.toMatchObject({
      code: 'GH_ERR_CHECKPOINT_INVALID',
    });
  });
});

describe('startCheckpointer', () => {
  it('appends a checkpoint.signed event whose JWS covers every head, on its own chain, and skips unchanged heads', async () => {
    const log = createMemoryLog();
    const key = await loadCheckpointKey({ dataDir: dir });
    const chains = new ChainRegistry();
    chains.seal(
      createEvent(
        'session.started',
        { session_id: 's-1' },
        { protocol_version: null, client_name: null, client_version: null },
      ),
    );
    const checkpointer = startCheckpointer({
      log,
      heads: () => chains.heads(),
      key,
      intervalMs: 60_000,
      stream: 'checkpoint:test',
      now: () => 1_800_000_000_000,
    });

    const first = await checkpointer.publishNow();
    expect(await checkpointer.publishNow()).toBeUndefined();
    chains.seal(createEvent('session.ended', { session_id: 's-1' }, { reason: 'closed' }));
    const second = await checkpointer.publishNow();
    await checkpointer.stop();

    const appended = log.events().map((e) => parseEvent(e)) as EventOf<'checkpoint.signed'>[];
    expect(appended.map((e) => [e.type, e.session_id, e.seq])).toEqual([
      ['checkpoint.signed', 'checkpoint:test', 0],
      ['checkpoint.signed', 'checkpoint:test', 1],
    ]);
    expect(appended[1]!.prev_hash).toBe(first!.hash);
    const payload = await verifyCheckpoint(appended[1]!.data.jws, key.publicKey);
    expect(payload.iat).toBe(1_800_000_000);
    expect(payload.heads).toEqual([{ session_id: 's-1', seq: 1, hash: chains.head('s-1')!.hash }]);
    expect(appended[1]!.data.heads).toEqual(payload.heads);
    expect(second!.id).toBe(appended[1]!.id);
  });

  it('signs only the heads that moved since they were signed, at most MAX_HEADS_PER_CHECKPOINT an event', async () => {
    const log = createMemoryLog();
    const key = await loadCheckpointKey({ dataDir: dir });
    const hash = (n: number) => n.toString(16).padStart(64, '0');
    const heads = new Map(
      Array.from({ length: MAX_HEADS_PER_CHECKPOINT * 2 + 500 }, (_, i) => [
        `s-${String(i).padStart(5, '0')}`,
        { seq: 0, hash: hash(i) },
      ]),
    );
    const checkpointer = startCheckpointer({ log, heads: () => heads, key, intervalMs: 60_000 });

    await checkpointer.publishNow();
    heads.set('s-00007', { seq: 1, hash: hash(1_000_000) });
    heads.set('s-04100', { seq: 1, hash: hash(1_000_001) });
    await checkpointer.publishNow();
    expect(await checkpointer.publishNow()).toBeUndefined();
    await checkpointer.stop();

    const appended = log.events().map((e) => parseEvent(e)) as EventOf<'checkpoint.signed'>[];
    expect(appended.map((e) => [e.seq, e.data.heads.length])).toEqual([
      [0, MAX_HEADS_PER_CHECKPOINT],
      [1, MAX_HEADS_PER_CHECKPOINT],
      [2, 500],
      [3, 2],
    ]);
    for (const event of appended) {
      const payload = await verifyCheckpoint(event.data.jws, key.publicKey);
      expect(payload.heads).toEqual(event.data.heads);
      expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThan(1024 * 1024);
    }
    expect(appended[3]!.data.heads.map((h) => [h.session_id, h.seq])).toEqual([
      ['s-00007', 1],
      ['s-04100', 1],
    ]);
  });

  it('keeps every event under the record limit whatever the session ids, and never signs a head that went back', async () => {
    const log = createMemoryLog();
    const key = await loadCheckpointKey({ dataDir: dir });
    const warnings: unknown[] = [];
    // 256-character ids full of characters JSON escapes six bytes long.
    const id = (i: number) => `${String(i).padStart(4, '0')}${'\u0001"'.repeat(126)}`;
    const heads = new Map(
      Array.from({ length: 3_000 }, (_, i) => [id(i), { seq: 5, hash: i.toString(16).padStart(64, '0') }]),
    );
    const checkpointer = startCheckpointer({
      log,
      heads: () => heads,
      key,
      intervalMs: 60_000,
      logger: { warn: (details) => warnings.push(details) },
    });
    await checkpointer.publishNow();
    const first = log.events().length;
    // One head cut back, one rewritten at the seq signed, one moved on.
    heads.set(id(1), { seq: 3, hash: 'a'.repeat(64) });
    heads.set(id(2), { seq: 5, hash: 'b'.repeat(64) });
    heads.set(id(3), { seq: 6, hash: 'c'.repeat(64) });
    await checkpointer.publishNow();
    await checkpointer.stop();

    const appended = log.events().map((e) => parseEvent(e)) as EventOf<'checkpoint.signed'>[];
    expect(first).toBeGreaterThan(1);
    for (const event of appended) expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThan(1024 * 1024);
    expect(appended.slice(0, first).flatMap((e) => e.data.heads).length).toBe(3_000);
    expect(appended.slice(first).flatMap((e) => e.data.heads.map((h) => [h.session_id, h.seq]))).toEqual([
      [id(3), 6],
    ]);
    expect(warnings).toHaveLength(2);
  });

  it('rewinds its chain when the log refuses a checkpoint, so the next one still links', async () => {
    const log = createMemoryLog();
    const key = await loadCheckpointKey({ dataDir: dir });
    let seq = 0;
    const checkpointer = startCheckpointer({
      log,
      heads: () => new Map([['s', { seq: seq++, hash: 'c'.repeat(64) }]]),
      key,
      intervalMs: 60_000,
    });
    log.setAvailable(false);
    await expect(checkpointer.publishNow()).rejects.toMatchObject({ code: 'GH_ERR_LOG_UNAVAILABLE' });
    log.setAvailable(true);
    const event = await checkpointer.publishNow();
    await checkpointer.stop();
    expect(event!.seq).toBe(0);
    expect(JSON.parse(await readFile(checkpointKeyPath(dir), 'utf8'))).toHaveProperty('d');
  });
});
