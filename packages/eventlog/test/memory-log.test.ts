import { describe, expect, it } from 'vitest';
import { createMemoryLog, type EventLog, type MemoryEventLog } from '../src/index.js';
import { describeEventLogContract } from './event-log-contract.js';
import { sessionCalls } from './support/sample-events.js';

describeEventLogContract('memory', async () => {
  const opened: EventLog[] = [];
  const log = createMemoryLog();
  opened.push(log);
  let current: MemoryEventLog = log;
  return {
    log,
    reopen: async () => {
      current = current.reopen();
      opened.push(current);
      return current;
    },
    cleanup: async () => {
      await Promise.all(opened.map((handle) => handle.close()));
    },
  };
});

describe('in-memory event log', () => {
  it('when set unavailable, rejects appends with a retryable GH_ERR_LOG_UNAVAILABLE and keeps nothing', async () => {
    const log = createMemoryLog();
    log.setAvailable(false);

    await expect(log.append(sessionCalls('s-down', 2))).rejects.toMatchObject({
      code: 'GH_ERR_LOG_UNAVAILABLE',
      retryable: true,
    });
    expect(log.events()).toEqual([]);

    log.setAvailable(true);
    const events = sessionCalls('s-up', 2);
    await log.append(events);
    expect(log.events()).toEqual(events);
    await log.close();
  });

  it('lists everything appended, in order, through events()', async () => {
    const log = createMemoryLog();
    const first = sessionCalls('s-a', 2);
    const second = sessionCalls('s-b', 3);
    await log.append(first);
    await log.append(second);

    expect(log.events().map((event) => event.id)).toEqual([...first, ...second].map((event) => event.id));
    await log.close();
  });

  it('refuses an event over maxRecordBytes with GH_ERR_LOG_RECORD_TOO_LARGE and writes none of the append', async () => {
    const log = createMemoryLog({ maxRecordBytes: 200 });

    await expect(log.append(sessionCalls('s-big', 2))).rejects.toMatchObject({
      code: 'GH_ERR_LOG_RECORD_TOO_LARGE',
    });
    expect(log.events()).toEqual([]);
    await log.close();
  });

  it('refuses an event that does not match the schema with GH_ERR_LOG_INVALID_RECORD', async () => {
    const log = createMemoryLog();
    const [event] = sessionCalls('s-bad', 1);

    await expect(log.append([{ ...event!, hash: 'not-a-hash' }])).rejects.toMatchObject({
      code: 'GH_ERR_LOG_INVALID_RECORD',
    });
    expect(log.events()).toEqual([]);
    await log.close();
  });

  it('re-delivers exactly the recorded batch when next is given its lastOffset as untilOffset', async () => {
    const log = createMemoryLog();
    await log.append(sessionCalls('s-until', 3));
    const consumer = await log.openConsumer('projector');
    const pending = await consumer.next({ maxEvents: 2, maxWaitMs: 0 });
    await consumer.close();
    await log.append(sessionCalls('s-more', 3));

    const again = await log.openConsumer('projector');
    const batch = await again.next({ maxEvents: 100, maxWaitMs: 0, untilOffset: pending.lastOffset });

    expect(batch.token).toBe(pending.token);
    expect(batch.events).toEqual(pending.events);
    await log.close();
  });
});
