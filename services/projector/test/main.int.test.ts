import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openEmbeddedLog } from '@gatehouse/eventlog';
import { openAuditStore } from '@gatehouse/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleEvents } from './sample-session.js';
import { EMBEDDED_LOG_SUBDIR } from '../src/main.js';

const mainFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/main.ts');

describe('projector main entry (GATEHOUSE_DATA_DIR, embedded log, chDB)', () => {
  let dataDir: string;
  const events = sampleEvents(700, { sessions: 5 });

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-projector-main-'));
    const log = await openEmbeddedLog({ dir: path.join(dataDir, EMBEDDED_LOG_SUBDIR) });
    await log.append(events);
    await log.close();
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("projects the data dir's log into its chDB store and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', mainFile], {
      env: {
        ...process.env,
        GATEHOUSE_DATA_DIR: dataDir,
        CLICKHOUSE_URL: '',
        KAFKA_BROKERS: '',
        LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let projected = 0;
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`main did not project ${events.length} events in time; stderr: ${stderr}`)),
        60_000,
      );
      let buffered = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          const entry = JSON.parse(line) as { msg?: string; events?: number };
          if (entry.msg === 'batch projected') projected += entry.events ?? 0;
        }
        if (projected >= events.length) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`main exited (${code}) early; stderr: ${stderr}`)));
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const log = await openEmbeddedLog({ dir: path.join(dataDir, EMBEDDED_LOG_SUBDIR) });
    expect(await log.committedOffset('projector')).toBe(String(events.length));
    await log.close();
    const store = await openAuditStore({ dataDir });
    try {
      expect(await store.countEvents()).toBe(events.length);
    } finally {
      await store.close();
    }
  });

  it('refuses a LOG_LEVEL pino does not know before it opens anything, naming the variable', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', mainFile], {
      env: { ...process.env, GATEHOUSE_DATA_DIR: dataDir, KAFKA_BROKERS: '', LOG_LEVEL: 'loud' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      'gatehouse projector: LOG_LEVEL: "loud" is not one of fatal, error, warn, info, debug, trace, silent\n',
    );
  });
});
