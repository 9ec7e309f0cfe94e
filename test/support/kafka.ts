/**
 * vitest `globalSetup`: gives the Kafka integration tests a broker.
 *
 * - `KAFKA_BROKERS` set: used as is (nothing is started or stopped).
 * - Otherwise, when this run may include a test that needs Kafka (no file filter, or a filter
 *   naming kafka, spool, eventlog or projector files), starts a single-node broker with `infra/kafka/start.sh` on free
 *   ports in a temp dir, hands its address to the tests (`inject('kafkaBrokers')`, and
 *   `GATEHOUSE_TEST_KAFKA_BROKERS` in the environment for processes they spawn), and stops it and
 *   removes the dir at the end. It does NOT set `KAFKA_BROKERS`: code under test that switches to
 *   Kafka when that variable is set (services, CLI) keeps its default embedded log.
 * - `GATEHOUSE_TEST_KAFKA=0` never starts one.
 *
 * Tests that need Kafka call `kafkaBrokers()` from `test/support/kafka-brokers.ts`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `host:port[,host:port]` of the broker for this run, or '' when none. */
    kafkaBrokers: string;
  }
}

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const startScript = path.join(root, 'infra/kafka/start.sh');
const stopScript = path.join(root, 'infra/kafka/stop.sh');

/** A port the OS reports free right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new TypeError('no port')),
      );
    });
  });
}

/** A broker started by `infra/kafka/start.sh` in its own temp dir. */
export interface StartedBroker {
  brokers: string;
  dataDir: string;
  port: number;
  controllerPort: number;
  /** Stops it (keeps the data): `start` again resumes the same log. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

/** Starts a single-node broker on free ports in a fresh temp dir. */
export async function startBroker(): Promise<StartedBroker> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-kafka-'));
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const args = ['--port', String(port), '--controller-port', String(controllerPort), '--data-dir', dataDir];
  const start = async () => {
    const { stdout } = await run('bash', [startScript, ...args], { timeout: 180_000 });
    if (!/^KAFKA_BROKERS=/m.test(stdout))
      throw new TypeError(`infra/kafka/start.sh printed no KAFKA_BROKERS line:\n${stdout}`);
  };
  const stop = async () => {
    await run('bash', [stopScript, '--data-dir', dataDir], { timeout: 60_000 });
  };
  try {
    await start();
  } catch (error) {
    await stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    brokers: `127.0.0.1:${port}`,
    dataDir,
    port,
    controllerPort,
    start,
    stop,
    destroy: async () => {
      await stop().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** True when the file filters of this run (if any) may select a test that needs Kafka. */
function runMayNeedKafka(project: TestProject): boolean {
  // vitest keeps the CLI file filters on an internal field; fall back to argv when it is absent.
  const internal = (project.vitest as unknown as { filenamePattern?: unknown }).filenamePattern;
  const filters = Array.isArray(internal)
    ? internal.map(String)
    : process.argv
        .slice(2)
        .filter((arg) => !arg.startsWith('-') && !['run', 'watch', 'related'].includes(arg));
  if (filters.length === 0) return true;
  return filters.some((filter) => /kafka|spool|eventlog|projector|compose|^test\/?$|^\.?$/i.test(filter));
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.KAFKA_BROKERS ?? '';
  if (given !== '' || process.env.GATEHOUSE_TEST_KAFKA === '0' || !runMayNeedKafka(project)) {
    project.provide('kafkaBrokers', given);
    return undefined;
  }
  const started = Date.now();
  let broker: StartedBroker;
  try {
    broker = await startBroker();
  } catch (error) {
    // Only the Kafka tests need it: they fail with instructions, every other test still runs.
    console.error(
      `[kafka] could not start a broker for the Kafka tests: ${error instanceof Error ? error.message : String(error)}`,
    );
    project.provide('kafkaBrokers', '');
    return undefined;
  }
  process.env.GATEHOUSE_TEST_KAFKA_BROKERS = broker.brokers;
  project.provide('kafkaBrokers', broker.brokers);
  console.log(
    `[kafka] broker ${broker.brokers} started in ${((Date.now() - started) / 1000).toFixed(1)}s (data ${broker.dataDir})`,
  );
  return async () => {
    await broker.destroy();
    delete process.env.GATEHOUSE_TEST_KAFKA_BROKERS;
  };
}
