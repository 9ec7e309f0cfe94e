import { describe, expect, it } from 'vitest';
import { LogError } from '../src/index.js';
import { AppendBatcher, type OutgoingRecord } from '../src/kafka/append-batcher.js';

const record = (name: string, bytes = 10): OutgoingRecord => ({
  key: name,
  value: Buffer.alloc(bytes, name),
});
const names = (records: OutgoingRecord[]) => records.map((r) => r.key);

/** A broker stand-in: records each request; `release()` acknowledges the oldest pending one. */
function fakeBroker() {
  const requests: string[][] = [];
  const pending: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  return {
    requests,
    send: (records: OutgoingRecord[]) =>
      new Promise<void>((resolve, reject) => {
        requests.push(names(records));
        pending.push({ resolve, reject });
      }),
    release: () => pending.shift()?.resolve(),
    fail: (error: unknown) => pending.shift()?.reject(error),
    get inFlight() {
      return pending.length;
    },
  };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

function batcher(
  broker: ReturnType<typeof fakeBroker>,
  overrides: Partial<ConstructorParameters<typeof AppendBatcher>[0]> = {},
) {
  return new AppendBatcher({
    send: broker.send,
    abandonInFlight: () =>
      broker.fail(new LogError('GH_ERR_LOG_UNAVAILABLE', 'abandoned', { retryable: true })),
    appendTimeoutMs: 60_000,
    lingerMs: 0,
    maxBatchBytes: 1024 * 1024,
    what: 'test topic',
    ...overrides,
  });
}

describe('AppendBatcher (Kafka group commit)', () => {
  it('keeps one request in flight and sends everything appended meanwhile together, in call order', async () => {
    const broker = fakeBroker();
    const appends = batcher(broker);
    const first = appends.append([record('a')]);
    await until(() => broker.inFlight === 1);
    const second = appends.append([record('b'), record('c')]);
    const third = appends.append([record('d')]);
    broker.release();
    await first;
    await until(() => broker.inFlight === 1);
    broker.release();
    await Promise.all([second, third]);

    expect(broker.requests).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('splits an append larger than maxBatchBytes over several requests and resolves it after the last', async () => {
    const broker = fakeBroker();
    const appends = batcher(broker, { maxBatchBytes: 1024 });
    let resolved = false;
    const big = appends
      .append([record('a', 600), record('b', 600), record('c', 600)])
      .then(() => (resolved = true));
    for (let i = 0; i < 3; i++) {
      await until(() => broker.inFlight === 1);
      expect(resolved).toBe(false);
      broker.release();
    }
    await big;

    expect(broker.requests).toEqual([['a'], ['b'], ['c']]);
  });

  it('rejects every append a failed request carried, and sends the next append normally', async () => {
    const broker = fakeBroker();
    const appends = batcher(broker);
    const failed = appends.append([record('a')]);
    await until(() => broker.inFlight === 1);
    broker.fail(new LogError('GH_ERR_LOG_UNAVAILABLE', 'broker gone', { retryable: true }));
    await expect(failed).rejects.toMatchObject({ code: 'GH_ERR_LOG_UNAVAILABLE', retryable: true });

    const next = appends.append([record('b')]);
    await until(() => broker.inFlight === 1);
    broker.release();
    await next;
    expect(broker.requests).toEqual([['a'], ['b']]);
  });

  it('rejects an append not acknowledged within appendTimeoutMs as retryable, abandons its request, and never sends queued records of it', async () => {
    const broker = fakeBroker();
    // maxBatchBytes 1: one record per request, so the append's second record waits in the queue.
    const appends = batcher(broker, { appendTimeoutMs: 50, maxBatchBytes: 1 });
    const stuck = appends.append([record('a1'), record('a2')]);
    await until(() => broker.inFlight === 1);

    await expect(stuck).rejects.toMatchObject({ code: 'GH_ERR_LOG_UNAVAILABLE', retryable: true });
    await appends.whenIdle();
    expect(broker.requests).toEqual([['a1']]);
    // The batcher is not stuck: a later append goes out on its own request.
    const next = appends.append([record('b')]);
    await until(() => broker.inFlight === 1);
    broker.release();
    await next;
    expect(broker.requests).toEqual([['a1'], ['b']]);
  });
});
