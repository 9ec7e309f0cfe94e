import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll } from 'vitest';
import { openKafkaLog, type EventLog } from '../src/index.js';
import { kafkaBrokers } from '../../../test/support/kafka-brokers.js';
import { describeEventLogContract } from './event-log-contract.js';
import { kafkaTestOptions } from './kafka-test-options.js';

let admin: ReturnType<Kafka['admin']>;
let brokers: string[];

beforeAll(async () => {
  brokers = kafkaBrokers();
  admin = new Kafka({ brokers, clientId: 'gatehouse-test-admin', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
});
afterAll(async () => {
  await admin?.disconnect();
});

describeEventLogContract('kafka', async () => {
  const options = kafkaTestOptions(brokers);
  const handles: EventLog[] = [];
  const open = async () => {
    const log = await openKafkaLog(options);
    handles.push(log);
    return log;
  };
  const log = await open();
  return {
    log,
    reopen: open,
    cleanup: async () => {
      await Promise.all(handles.map((handle) => handle.close()));
      await admin.deleteTopics({ topics: [options.topic!] }).catch(() => undefined);
    },
  };
});
