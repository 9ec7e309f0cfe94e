import type { GatehouseEvent } from '@gatehouse/events';
import type { Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openKafkaLog, type KafkaEventLog, type KafkaLogOptions } from '../src/index.js';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import { connectTestAdmin, kafkaTestOptions } from './kafka-test-options.js';
import { sessionCalls } from './support/sample-events.js';

let admin: Admin;
const opened: KafkaEventLog[] = [];

beforeAll(async () => {
  admin = await connectTestAdmin();
});
afterEach(async () => {
  for (const log of opened.splice(0)) {
    await log.close().catch(() => undefined);
    await admin.deleteTopics({ topics: [log.topic] }).catch(() => undefined);
  }
});
afterAll(async () => {
  await admin?.disconnect();
});

async function openLog(overrides: Partial<KafkaLogOptions> = {}): Promise<KafkaEventLog> {
  const log = await openKafkaLog(kafkaTestOptions(kafkaBrokers(), { partitions: 2, ...overrides }));
  opened.push(log);
  return log;
}

/** Records in the topic, over all partitions (high watermarks: nothing sent means 0). */
async function recordsIn(topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((sum, partition) => sum + Number(partition.high) - Number(partition.low), 0);
}

/** `event` with `field` replaced by `value`, which the schema refuses (a test-only bad event). */
function broken(event: GatehouseEvent, field: string, value: unknown): GatehouseEvent {
  return { ...event, [field]: value } as unknown as GatehouseEvent;
}

describe('kafka append validation', () => {
  it('refuses an append holding an event that breaks the schema, naming its index, id and field, and sends nothing', async () => {
    const log = await openLog();
    const [first, second, third] = sessionCalls('s-invalid', 3);
    const bad = broken(second!, 'scopes', 'mcp');
    const failure = log.append([first!, bad, third!]);
    await expect(failure).rejects.toMatchObject({
      code: 'GH_ERR_LOG_INVALID_RECORD',
      nothingWritten: true,
      retryable: false,
    });
    await expect(failure).rejects.toThrow(
      new RegExp(`append: event 1 of 3 \\("${second!.id}"\\).*nothing of this append was sent.*scopes`),
    );
    expect(await recordsIn(log.topic)).toBe(0);

    // The log is not left in a bad state: a valid append goes through.
    await log.append([first!]);
    expect(await recordsIn(log.topic)).toBe(1);
  });

  it('refuses a ts on a day that does not exist or outside 1900–2299 (what the store could never hold)', async () => {
    const log = await openLog();
    const [event] = sessionCalls('s-ts', 1);
    for (const ts of ['2026-02-30T10:00:00.000Z', '1800-01-01T00:00:00.000Z', '2300-01-01T00:00:00.000Z']) {
      const failure = log.append([broken(event!, 'ts', ts)]);
      await expect(failure, ts).rejects.toMatchObject({
        code: 'GH_ERR_LOG_INVALID_RECORD',
        nothingWritten: true,
      });
      await expect(failure, ts).rejects.toThrow(/ts: expected a real UTC instant/);
    }
    expect(await recordsIn(log.topic)).toBe(0);
  });

  it('sends the event unchecked with validateOnAppend: false (the embedded log’s option, same meaning)', async () => {
    const log = await openLog({ validateOnAppend: false });
    const [event] = sessionCalls('s-unchecked', 1);
    await log.append([broken(event!, 'scopes', 'mcp')]);
    expect(await recordsIn(log.topic)).toBe(1);
  });
});
