import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKafkaLog, type EventLog } from '../src/index.js';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import { connectTestAdmin, kafkaTestOptions } from './kafka-test-options.js';
import { sessionCalls } from './support/sample-events.js';

let admin: Admin;
const topics: string[] = [];
const opened: EventLog[] = [];

beforeAll(async () => {
  admin = await connectTestAdmin();
});
afterAll(async () => {
  for (const log of opened) await log.close().catch(() => undefined);
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
});

/** Options for a fresh topic created beforehand with the given max.message.bytes, and its warnings. */
async function topicWithLimit(maxMessageBytes: number, extra: { name: string; value: string }[] = []) {
  const warnings: string[] = [];
  const options = kafkaTestOptions(kafkaBrokers(), {
    partitions: 1,
    logger: { warn: (_details, message) => void warnings.push(message), error: () => undefined },
  });
  topics.push(options.topic!);
  await admin.createTopics({
    // No waitForLeaders: openKafkaLog waits for the leaders itself, and tolerates a topic still propagating.
    topics: [
      {
        topic: options.topic!,
        numPartitions: 1,
        configEntries: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }, ...extra],
      },
    ],
  });
  return { options, warnings };
}

describe('Kafka event log on a topic it did not create', () => {
  it("fits its record limit under the topic's max.message.bytes: a larger event is refused before sending", async () => {
    const { options, warnings } = await topicWithLimit(300_000);
    const log = await openKafkaLog(options);
    opened.push(log);
    expect(warnings.join('\n')).toMatch(
      /accepts record batches of at most 300000 bytes: events over 234464 bytes/,
    );

    const [small, large] = sessionCalls('s-limit', 2);
    await log.append([small!]);
    const big = { ...large!, args: { blob: 'x'.repeat(250_000) } } as typeof large;
    const refused = log.append([big!]);
    await expect(refused).rejects.toMatchObject({
      code: 'GH_ERR_LOG_RECORD_TOO_LARGE',
      nothingWritten: true,
    });
    await expect(refused).rejects.toThrow(/over maxRecordBytes \(234464\)/);
  });

  it('refuses a topic whose limit leaves no room for an event, naming the topic and the setting', async () => {
    const { options } = await topicWithLimit(70_000);
    await expect(openKafkaLog(options)).rejects.toThrow(
      new RegExp(`kafka topic ${options.topic!.replaceAll('.', '\\.')} has max\\.message\\.bytes 70000`),
    );
  });

  it('warns that a topic with a finite retention deletes events a projector or a rebuild then never sees', async () => {
    const { options, warnings } = await topicWithLimit(2 * 1024 * 1024, [
      { name: 'retention.ms', value: String(7 * 86_400_000) },
    ]);
    opened.push(await openKafkaLog(options));
    expect(warnings.join('\n')).toMatch(
      /deletes events \(retention\.ms 604800000 \(7\.0 days\)\): a projector behind by more, or gatehouse rebuild, will not see them; set retention\.ms=-1/,
    );
  });
});

describe('Kafka event log on a topic it creates', () => {
  it('keeps events forever (retention.ms and retention.bytes -1) and warns about nothing', async () => {
    const warnings: string[] = [];
    const options = kafkaTestOptions(kafkaBrokers(), {
      partitions: 1,
      logger: { warn: (_details, message) => void warnings.push(message), error: () => undefined },
    });
    topics.push(options.topic!);
    opened.push(await openKafkaLog(options));
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: options.topic!, configNames: ['retention.ms', 'retention.bytes'] }],
    });
    const values = Object.fromEntries(
      described.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]),
    );
    expect(values).toEqual({ 'retention.ms': '-1', 'retention.bytes': '-1' });
    expect(warnings).toEqual([]);
  });
});
