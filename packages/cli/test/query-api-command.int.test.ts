import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainRegistry, createEvent, type EventOf, type GatehouseEvent } from '@gatehouse/events';
import { openEmbeddedLog } from '@gatehouse/eventlog';
import { openAuditStore } from '@gatehouse/store';

const GATEHOUSE = path.resolve(import.meta.dirname, '../bin/gatehouse.js');
const EXAMPLE_CONFIG = path.resolve(import.meta.dirname, '../../../examples/support-desk/gatehouse.yaml');
const DAY_MS = 24 * 3600_000;

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-query-api-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** Two calls' worth of events of `session`, at `atMs`. */
function sessionEvents(chains: ChainRegistry, session: string, atMs: number): GatehouseEvent[] {
  const ctx = { session_id: session, agent: 'support-bot', user: 'alice' };
  return [
    chains.seal(
      createEvent(
        'session.started',
        ctx,
        { protocol_version: null, client_name: null, client_version: null },
        {},
        atMs,
      ),
    ),
    chains.seal(createEvent('session.ended', ctx, { reason: 'client closed' }, {}, atMs + 1)),
  ];
}

describe('gatehouse query-api', () => {
  it('serves the query API from the config, and signs checkpoints over the sessions of the last hour only', async () => {
    const chains = new ChainRegistry();
    const store = await openAuditStore({ dataDir, maxThreads: 1 });
    try {
      await store.insertEvents(
        [
          ...sessionEvents(chains, 'sess-last-week', Date.now() - 7 * DAY_MS),
          // Events of half an hour ago, projected only now (a projector that was behind).
          ...sessionEvents(chains, 'sess-half-an-hour-ago', Date.now() - 30 * 60_000),
          ...sessionEvents(chains, 'sess-now', Date.now()),
        ],
        'query-api-command/1',
      );
    } finally {
      await store.close();
    }

    const child = spawn(process.execPath, [GATEHOUSE, 'query-api'], {
      env: {
        ...process.env,
        GATEHOUSE_CONFIG: EXAMPLE_CONFIG,
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_QUERY_PORT: '0',
        KAFKA_BROKERS: '',
        CLICKHOUSE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "listening" line in 30 s; stderr: ${stderr}`)),
        30_000,
      );
      child.stderr.on('data', () => {
        const match = /query API listening on (\S+)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const unauthenticated = await fetch(`${url}/v1/sessions`);
    expect(unauthenticated.status).toBe(401);

    // Stopping publishes a last checkpoint.
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const log = await openEmbeddedLog({ dir: path.join(dataDir, 'log') });
    try {
      const consumer = await log.openConsumer('test-reader', { fromBeginning: true });
      const batch = await consumer.next({ maxEvents: 100, maxWaitMs: 2_000 });
      await consumer.close();
      const checkpoints = batch.events.filter(
        (event): event is EventOf<'checkpoint.signed'> => event.type === 'checkpoint.signed',
      );
      expect(checkpoints.length).toBeGreaterThan(0);
      const signed = new Set(checkpoints.flatMap((event) => event.data.heads.map((head) => head.session_id)));
      expect(signed.has('sess-now')).toBe(true);
      expect(signed.has('sess-half-an-hour-ago')).toBe(true);
      expect(signed.has('sess-last-week')).toBe(false);
    } finally {
      await log.close();
    }
  });

  it('names the port variable when its port is taken, and exits 2 with nothing left running or written', async () => {
    const logged = async () => {
      const log = await openEmbeddedLog({ dir: path.join(dataDir, 'log') });
      try {
        const consumer = await log.openConsumer(`count-${Date.now()}`, { fromBeginning: true });
        const batch = await consumer.next({ maxEvents: 1_000, maxWaitMs: 500 });
        await consumer.close();
        return batch.events.length;
      } finally {
        await log.close();
      }
    };
    // The data dir of the test before: its store holds sessions of the last hour to sign.
    const before = await logged();
    const held = net.createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    const port = (held.address() as net.AddressInfo).port;
    try {
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [GATEHOUSE, 'query-api'], {
          env: {
            ...process.env,
            GATEHOUSE_CONFIG: EXAMPLE_CONFIG,
            GATEHOUSE_DATA_DIR: dataDir,
            GATEHOUSE_QUERY_PORT: String(port),
            KAFKA_BROKERS: '',
            CLICKHOUSE_URL: '',
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
      expect(result.code).toBe(2);
      expect(await logged()).toBe(before);
      expect(result.stderr).toContain(
        `error: GATEHOUSE_QUERY_PORT (and query.resource, on this machine): the query API cannot listen on port ${port} (EADDRINUSE)`,
      );
    } finally {
      await new Promise((resolve) => held.close(resolve));
    }
  });
});
