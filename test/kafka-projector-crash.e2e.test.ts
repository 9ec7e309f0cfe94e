import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import { ChainRegistry, events, sha256Hex, verifyChain, type GatehouseEvent } from '@gatehouse/events';
import { openKafkaLog, type KafkaEventLog } from '@gatehouse/eventlog';
import { openAuditStore, type AuditStore } from '@gatehouse/store';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type StartedBroker } from './support/kafka.js';
import { rawClickHouse, sqlRows } from './support/test-stack.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const projectorMain = path.join(root, 'services/projector/src/main.ts');
/** `services/projector/src/main.ts` reads this topic with this consumer group in Kafka mode. */
const TOPIC = 'gatehouse.audit';
const GROUP = 'projector';
const SESSIONS = 40;
const BEFORE_CRASH = 60_000;
const WHILE_DOWN = 10_000;
/** Three projector processes; each start after a SIGKILL waits for the group to drop the dead member (~30 s). */
const TEST_TIMEOUT_MS = 240_000;

/** Ingress-style sessions: session.started, tools.listed, then call.attempted + call.completed pairs. */
function ingressSessions(count: number, chains: ChainRegistry, offset: number): GatehouseEvent[] {
  const decision = {
    allowed: true,
    rule: 'allow agent:support-bot support__read_ticket',
    policy_version: 'e'.repeat(64),
  };
  const out: GatehouseEvent[] = [];
  for (let i = offset; i < offset + count; i++) {
    const session = i % SESSIONS;
    const ctx = {
      session_id: `crash-session-${session}`,
      agent: 'support-bot',
      user: `user-${session % 3}`,
      scopes: ['mcp:tools'],
      client_ip: '127.0.0.1',
      user_agent: 'e2e/1.0',
    };
    const head = chains.head(ctx.session_id);
    if (head === undefined) {
      out.push(
        chains.seal(
          events.sessionStarted(ctx, {
            protocol_version: '2025-11-25',
            client_name: 'e2e',
            client_version: '1',
          }),
        ),
      );
      continue;
    }
    if (head.seq === 0) {
      out.push(chains.seal(events.toolsListed(ctx, ['support__read_ticket'], decision.policy_version)));
      continue;
    }
    const args = { ticket_id: `T-${i}` };
    const call = {
      server: 'support',
      tool: 'support__read_ticket',
      request_id: String(i >> 1),
      args,
      args_sha256: sha256Hex(JSON.stringify(args)),
    };
    out.push(
      chains.seal(
        head.seq % 2 === 1
          ? events.callAttempted(ctx, call, decision)
          : events.callCompleted(ctx, call, decision, {
              status: 'ok',
              latency_ms: 1.5,
              result_sha256: sha256Hex(`r${i}`),
              result_bytes: 321,
              error: null,
            }),
      ),
    );
  }
  return out;
}

/** `services/projector/src/main.ts` as its own process, with its `batch projected` lines counted. */
interface ProjectorProcess {
  process: ChildProcess;
  /** Batches committed so far (from its debug log). */
  batches(): number;
  /** Events committed so far (a redelivered batch counts again). */
  events(): number;
  /** Resolves once `n` batches were committed; rejects if the process exits first. */
  committed(n: number, timeoutMs: number): Promise<void>;
  exited: Promise<number | string>;
  output(): string;
  /** Milliseconds from spawn to `projector started` (its consumer got partitions), or -1. */
  joinedAfterMs(): number;
  /** Resolves true once it logged `projector started`, false if it exited before. */
  joined: Promise<boolean>;
}

function spawnProjector(dataDir: string, brokers: string): ProjectorProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', projectorMain], {
    cwd: root,
    env: {
      ...process.env,
      GATEHOUSE_DATA_DIR: dataDir,
      KAFKA_BROKERS: brokers,
      CLICKHOUSE_URL: '',
      LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spawnedAt = Date.now();
  let joinedAfterMs = -1;
  let batches = 0;
  let projected = 0;
  let buffered = '';
  let text = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { msg?: string; events?: number; level?: number };
      if (entry.msg === 'projector started') joinedAfterMs = Date.now() - spawnedAt;
      else if (entry.msg === 'batch projected') {
        batches += 1;
        projected += entry.events ?? 0;
      } else if ((entry.level ?? 0) >= 40) text += `${line}\n`;
    }
    for (const waiter of waiters) waiter();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const joined = new Promise<boolean>((resolve) => {
    waiters.add(() => joinedAfterMs >= 0 && resolve(true));
    void exited.then(() => resolve(joinedAfterMs >= 0));
  });
  return {
    process: child,
    joined,
    batches: () => batches,
    events: () => projected,
    exited,
    output: () => text,
    joinedAfterMs: () => joinedAfterMs,
    committed: (n, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (batches < n) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(`the projector committed ${batches} < ${n} batches within ${timeoutMs} ms: ${text}`),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        void exited.then((code) => {
          if (!waiters.has(check)) return;
          cleanup();
          reject(new Error(`the projector exited (${code}) after ${batches} batches: ${text}`));
        });
        check();
      }),
  };
}

/**
 * Starts main.ts the way a supervisor would: a process that exits before its consumer joined the
 * group (main.ts exits 1 when `openConsumer` times out, e.g. while the group still waits for a
 * killed member's session to expire) is started again, up to `attempts` times.
 */
async function superviseProjector(
  dataDir: string,
  brokers: string,
  children: ChildProcess[],
  attempts = 3,
): Promise<{ projector: ProjectorProcess; restarts: string[] }> {
  const restarts: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const projector = spawnProjector(dataDir, brokers);
    children.push(projector.process);
    if (await projector.joined) return { projector, restarts };
    const code = await projector.exited;
    restarts.push(`exit ${code}: ${projector.output().trim().split('\n').at(-1) ?? ''}`);
    if (attempt >= attempts)
      throw new Error(`main.ts did not start ${attempts} times: ${restarts.join('; ')}`);
  }
}

/**
 * A projector process configured as main.ts configures it in Kafka mode, with the (unexported)
 * test hook that pauses between a batch's store insert and its offset commit: after the `pauseAt`-th
 * insert it prints `inserted <token> <events>` and waits there for the SIGKILL.
 */
function spawnPausingProjector(
  dataDir: string,
  brokers: string,
  pauseAt: number,
): ChildProcess & { inserted: Promise<string> } {
  const script = `
    import path from 'node:path';
    import { openKafkaLog } from '@gatehouse/eventlog';
    import { openAuditStore } from '@gatehouse/store';
    import { pino } from 'pino';
    import { createProjectorWithHooks } from ${JSON.stringify(path.join(root, 'services/projector/src/projector.ts'))};
    setTimeout(() => process.exit(3), 120_000).unref();
    const log = await openKafkaLog({ brokers: process.env.KAFKA_BROKERS.split(','), clientId: 'gatehouse-projector' });
    const store = await openAuditStore({ dataDir: process.env.GATEHOUSE_DATA_DIR });
    let inserted = 0;
    const projector = createProjectorWithHooks(
      { log, store, logger: pino({ level: 'warn' }, pino.destination(2)) },
      {
        afterInsert: async (batch) => {
          if (++inserted < Number(process.env.PAUSE_AT)) return;
          process.stdout.write('inserted ' + batch.token + ' ' + batch.events.length + '\\n');
          await new Promise(() => setInterval(() => undefined, 1_000));
        },
      },
    );
    await projector.start();`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, GATEHOUSE_DATA_DIR: dataDir, KAFKA_BROKERS: brokers, PAUSE_AT: String(pauseAt) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const inserted = new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('inserted '));
      if (line !== undefined) resolve(line);
    });
    child.on('exit', (code, signal) =>
      reject(new Error(`the pausing projector exited (${code ?? signal}): ${err}`)),
    );
  });
  inserted.catch(() => undefined);
  return Object.assign(child, { inserted });
}

/** Rows in chDB under `dataDir`, read by a short-lived process (chDB binds a data dir to one process). */
function probeClickHouse(dataDir: string): Promise<{ distinct: number; physical: number }> {
  const script = `
    import { createClient } from '@clickhouse/client';
    import { createChdbConnection } from 'chdb/connection';
    const client = createClient({ connection: createChdbConnection({ path: process.env.PROBE_DIR }) });
    const rows = await (await client.query({
      query: 'SELECT uniqExact(id) AS distinct, count() AS physical FROM gatehouse.events',
      format: 'JSONEachRow',
    })).json();
    process.stdout.write(JSON.stringify(rows[0]) + '\\n');
    await client.close();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, PROBE_DIR: path.join(dataDir, 'clickhouse') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`chDB probe exited ${code}: ${err}`));
      const row = JSON.parse(out.trim()) as { distinct: string | number; physical: string | number };
      resolve({ distinct: Number(row.distinct), physical: Number(row.physical) });
    });
  });
}

/** Sum over partitions of the group's committed positions, and of the topic's end offsets. */
async function positions(admin: Admin): Promise<{ committed: number; end: number }> {
  const [ends, groups] = await Promise.all([
    admin.fetchTopicOffsets(TOPIC),
    admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] }),
  ]);
  const committed = (groups[0]?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  return { committed, end: ends.reduce((n, e) => n + Number(e.high), 0) };
}

/**
 * The projector process in Kafka mode (services/projector/src/main.ts) is SIGKILLed while it
 * projects a backlog, more events arrive while it is down, and a new process takes over: the
 * consumer group redelivers whatever was not committed, and ClickHouse ends with every event once.
 */
describe('projector process SIGKILLed mid-projection in Kafka mode, then restarted', () => {
  let broker: StartedBroker | undefined;
  let log: KafkaEventLog | undefined;
  let admin: Admin | undefined;
  let store: AuditStore | undefined;
  let raw: ClickHouseClient | undefined;
  let dataDir = '';
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-kafka-crash-'));
    broker = await startBroker();
    log = await openKafkaLog({
      brokers: [broker.brokers],
      topic: TOPIC,
      clientId: 'gatehouse-e2e-appender',
      logger: { warn: () => undefined, error: () => undefined },
    });
    const kafka = new Kafka({
      clientId: 'gatehouse-e2e-admin',
      brokers: [broker.brokers],
      logLevel: logLevel.NOTHING,
    });
    admin = kafka.admin();
    await admin.connect();
  }, 180_000);

  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await raw?.close();
    await store?.close();
    await admin?.disconnect();
    await log?.close();
    await broker?.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'loses nothing and counts nothing twice when killed between a batch insert and its offset commit',
    async () => {
      const chains = new ChainRegistry();
      const appended: GatehouseEvent[] = [];
      const append = async (list: GatehouseEvent[]) => {
        for (let i = 0; i < list.length; i += 2_000) await log!.append(list.slice(i, i + 2_000));
        appended.push(...list);
      };
      await append(ingressSessions(BEFORE_CRASH, chains, 0));

      // 1. A projector process works through the backlog and is SIGKILLed after its third batch was
      //    inserted into ClickHouse and before that batch's offsets were committed.
      const paused = spawnPausingProjector(dataDir, broker!.brokers, 3);
      children.push(paused);
      const [, token, size] = (await paused.inserted).split(' ');
      const exited = new Promise((resolve) => paused.on('exit', (code, signal) => resolve(code ?? signal)));
      paused.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      const atKill = await positions(admin!);
      const stored = await probeClickHouse(dataDir);
      // Offsets move only after ClickHouse acknowledged: what is committed is stored, and the killed
      // batch is stored without being committed.
      expect(stored.distinct).toBeGreaterThanOrEqual(atKill.committed + Number(size));
      expect(atKill.committed).toBeLessThan(BEFORE_CRASH);

      // 2. More events arrive while no projector runs.
      await append(ingressSessions(WHILE_DOWN, chains, BEFORE_CRASH));

      // 3. The real entry point (main.ts) takes over (once the group dropped the killed member), is
      //    redelivered everything uncommitted, and is itself SIGKILLed mid-projection.
      const { projector: second, restarts: secondRestarts } = await superviseProjector(
        dataDir,
        broker!.brokers,
        children,
      );
      // One batch (at most 20,000 events, of any partitions) of a backlog of at least 30,000.
      await second.committed(1, 120_000);
      second.process.kill('SIGKILL');
      expect(await second.exited).toBe('SIGKILL');
      const atSecondKill = await positions(admin!);
      expect(atSecondKill.committed).toBeLessThan(appended.length);
      await append(ingressSessions(WHILE_DOWN, chains, BEFORE_CRASH + WHILE_DOWN));

      // 4. A third process catches up with the rest.
      const restartedAt = Date.now();
      const { projector: third, restarts: thirdRestarts } = await superviseProjector(
        dataDir,
        broker!.brokers,
        children,
      );
      let now = await positions(admin!);
      for (const deadline = Date.now() + 150_000; now.committed < now.end && Date.now() < deadline;) {
        if (third.process.exitCode !== null)
          throw new Error(`the restarted projector exited: ${third.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
        now = await positions(admin!);
      }
      expect(now).toEqual({ committed: appended.length, end: appended.length });
      const caughtUpS = (Date.now() - restartedAt) / 1000;
      third.process.kill('SIGTERM');
      expect(await third.exited).toBe(0);
      // Redelivery: each process projected at least everything its predecessor had not committed.
      expect(second.events()).toBeGreaterThanOrEqual(atSecondKill.committed - atKill.committed);
      expect(third.events()).toBeGreaterThanOrEqual(appended.length - atSecondKill.committed);

      // 5. Every query sees each appended event exactly once; physical copies of a redelivered batch
      //    (Kafka batches have no journal, so its boundaries and token may differ) collapse on merge.
      store = await openAuditStore({ dataDir });
      raw = rawClickHouse(dataDir);
      expect(await store.countEvents()).toBe(appended.length);
      for (const table of ['events', 'events_by_session']) {
        const [final] = await sqlRows<{ rows: string; ids: string }>(
          raw,
          `SELECT count() AS rows, uniqExact(id) AS ids FROM gatehouse.${table} FINAL`,
        );
        expect(final).toEqual({ rows: String(appended.length), ids: String(appended.length) });
      }
      const [before] = await sqlRows<{ physical: string }>(
        raw,
        'SELECT count() AS physical FROM gatehouse.events',
      );
      await raw.command({ query: 'OPTIMIZE TABLE gatehouse.events FINAL' });
      await raw.command({ query: 'OPTIMIZE TABLE gatehouse.events_by_session FINAL' });
      for (const table of ['events', 'events_by_session']) {
        const [after] = await sqlRows<{ rows: string; ids: string }>(
          raw,
          `SELECT count() AS rows, uniqExact(id) AS ids FROM gatehouse.${table}`,
        );
        expect(after).toEqual({ rows: String(appended.length), ids: String(appended.length) });
      }
      const appendedIds = new Set(appended.map((event) => event.id));
      const storedIds = await sqlRows<{ id: string }>(raw, 'SELECT toString(id) AS id FROM gatehouse.events');
      expect(storedIds.filter((row) => !appendedIds.has(row.id))).toEqual([]);

      // 6. Sessions replay in seq order, exactly as appended, and their chains verify.
      for (let s = 0; s < SESSIONS; s++) {
        const sessionId = `crash-session-${s}`;
        const expected = appended.filter((event) => event.session_id === sessionId);
        const replayed = await store.sessionEvents(sessionId);
        expect(replayed.map((event) => event.id)).toEqual(expected.map((event) => event.id));
        expect(verifyChain(replayed, { sessionId }).ok).toBe(true);
      }
      console.log(
        `[kafka-projector-crash] killed after inserting ${token} (${size} events), ${atKill.committed} events committed; ClickHouse then held ${stored.distinct} events (${stored.physical} rows): ` +
          `${stored.distinct - atKill.committed} inserted but not committed. main.ts joined after ${second.joinedAfterMs()} ms (restarts before: ${JSON.stringify(secondRestarts)}), ` +
          `committed ${second.events()} events and was killed at ${atSecondKill.committed} committed; the third joined after ${third.joinedAfterMs()} ms (restarts before: ${JSON.stringify(thirdRestarts)}) ` +
          `and caught up in ${caughtUpS.toFixed(1)} s projecting ${third.events()} events for ${appended.length - atSecondKill.committed} uncommitted; ` +
          `physical rows before merge ${before!.physical} for ${appended.length} events`,
      );
    },
    TEST_TIMEOUT_MS,
  );
});
