import { access, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatehouseEvent } from '@gatehouse/events';
import { openEmbeddedLog, openKafkaLog, type LogConsumer } from '../src/index.js';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import { kafkaTestOptions } from './kafka-test-options.js';
import { sessionCalls } from './support/sample-events.js';

const open: { close(): Promise<void> }[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const handle of open.splice(0).reverse()) await handle.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Reads (and commits) until `count` events arrived or 40 empty polls in a row. */
async function readAll(consumer: LogConsumer, count: number, commit: boolean): Promise<GatehouseEvent[]> {
  const events: GatehouseEvent[] = [];
  for (let idle = 0; events.length < count && idle < 40;) {
    const batch = await consumer.next({ maxEvents: 50, maxWaitMs: 250 });
    if (batch.events.length === 0) {
      idle++;
      continue;
    }
    idle = 0;
    events.push(...batch.events);
    if (commit) await consumer.commit(batch);
  }
  return events;
}

const ids = (events: readonly GatehouseEvent[]) => events.map((event) => event.id).sort();

describe('closeAndForget: a finished reader leaves no position behind', () => {
  it('embedded: deletes the checkpoint, so the next consumer of the group starts at offset 0', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-eventlog-forget-'));
    dirs.push(dir);
    const log = await openEmbeddedLog({ dir, logger: { warn: () => undefined } });
    open.push(log);
    const events = sessionCalls('s-forget', 5);
    await log.append(events);
    const finished = await log.openConsumer('rebuild');
    await readAll(finished, 5, true);
    expect(await log.committedOffset('rebuild')).toBe('5');

    await finished.closeAndForget();

    expect(await log.committedOffset('rebuild')).toBeUndefined();
    await expect(access(path.join(dir, 'checkpoints', 'rebuild.json'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    const next = await log.openConsumer('rebuild');
    expect(ids(await readAll(next, 5, false))).toEqual(ids(events));
  });

  it('embedded: keeps the other groups, and refuses once the log is closed (the checkpoint stays)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-eventlog-forget-'));
    dirs.push(dir);
    const log = await openEmbeddedLog({ dir, logger: { warn: () => undefined } });
    await log.append(sessionCalls('s-keep', 3));
    const projector = await log.openConsumer('projector');
    await readAll(projector, 3, true);
    await projector.close();
    const rebuild = await log.openConsumer('rebuild');
    await readAll(rebuild, 3, true);
    await log.close();

    await expect(rebuild.closeAndForget()).rejects.toMatchObject({ code: 'GH_ERR_LOG_CLOSED' });

    const reopened = await openEmbeddedLog({ dir, logger: { warn: () => undefined } });
    open.push(reopened);
    expect(await reopened.committedOffset('rebuild')).toBe('3');
    const again = await reopened.openConsumer('rebuild');
    await again.closeAndForget();
    expect(await reopened.committedOffset('rebuild')).toBeUndefined();
    expect(await reopened.committedOffset('projector')).toBe('3');
  });

  it('kafka: deletes the group, so its next consumer reads every partition from the earliest offset', async () => {
    const log = await openKafkaLog(kafkaTestOptions(kafkaBrokers()));
    open.push(log);
    const events = ['k-1', 'k-2', 'k-3', 'k-4'].flatMap((session) => sessionCalls(session, 3));
    await log.append(events);
    const finished = await log.openConsumer('rebuild');
    expect(ids(await readAll(finished, events.length, true))).toEqual(ids(events));
    expect(await finished.lag()).toBe(0);

    await finished.closeAndForget();
    // The group is gone: forgetting it again is not an error.
    await finished.closeAndForget();

    const next = await log.openConsumer('rebuild');
    expect(ids(await readAll(next, events.length, false))).toEqual(ids(events));
  }, 90_000);
});
