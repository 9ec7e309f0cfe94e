import type { GatehouseEvent } from '@gatehouse/events';
import { LogError, type EventLog, type LogConsumer } from '@gatehouse/eventlog';

/** An in-memory EventLog with an outage switch — a stand-in until `createMemoryLog` is exported. */
export interface FakeLog extends EventLog {
  setAvailable(available: boolean): void;
  events(): readonly GatehouseEvent[];
}

export function createFakeLog(): FakeLog {
  const stored: GatehouseEvent[] = [];
  let available = true;
  return {
    kind: 'memory',
    setAvailable(value) {
      available = value;
    },
    events: () => stored,
    async append(events) {
      if (!available) throw new LogError('GH_ERR_LOG_UNAVAILABLE', 'memory log: unavailable (test switch)', { retryable: true });
      stored.push(...events.map((e) => structuredClone(e)));
    },
    async openConsumer(): Promise<LogConsumer> {
      throw new LogError('GH_ERR_LOG_CONFIG', 'fake log: no consumers');
    },
    async close() {},
  };
}
