import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface ComposeService {
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
}

async function compose(): Promise<{ services: Record<string, ComposeService> }> {
  const text = await readFile(path.join(root, 'infra/compose/docker-compose.yml'), 'utf8');
  return parse(text, { merge: true }) as { services: Record<string, ComposeService> };
}

describe('infra/compose/docker-compose.yml (scale-out stack)', () => {
  it('parses as YAML and runs three KRaft brokers, ClickHouse and the three services', async () => {
    const { services } = await compose();
    expect(Object.keys(services).sort()).toEqual(
      [
        'clickhouse',
        'ingress',
        'kafka-1',
        'kafka-2',
        'kafka-3',
        'kafka-init',
        'projector',
        'query-api',
      ].sort(),
    );
  });

  it('forms one KRaft quorum of three combined broker/controller nodes with distinct ids', async () => {
    const { services } = await compose();
    const brokers = ['kafka-1', 'kafka-2', 'kafka-3'].map((name) => services[name]!.environment!);
    expect(new Set(brokers.map((env) => env.KAFKA_NODE_ID))).toEqual(new Set([1, 2, 3]));
    for (const env of brokers) {
      expect(env.KAFKA_PROCESS_ROLES).toBe('broker,controller');
      expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe('1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093');
      expect(env.KAFKA_MIN_INSYNC_REPLICAS).toBe(2);
      expect(env.KAFKA_DEFAULT_REPLICATION_FACTOR).toBe(3);
    }
  });

  it('creates the audit topic replicated 3 ways with min.insync.replicas=2', async () => {
    const { services } = await compose();
    const command = [services['kafka-init']!.command].flat().join(' ');
    expect(command).toContain('--topic gatehouse.audit');
    expect(command).toContain('--replication-factor 3');
    expect(command).toContain('min.insync.replicas=2');
  });

  it('points every service at all three brokers and at ClickHouse', async () => {
    const { services } = await compose();
    for (const name of ['ingress', 'projector', 'query-api']) {
      const env = services[name]!.environment!;
      expect(String(env.KAFKA_BROKERS).split(',')).toEqual(['kafka-1:9092', 'kafka-2:9092', 'kafka-3:9092']);
      expect(String(env.CLICKHOUSE_URL)).toMatch(/^http:\/\/.*clickhouse:8123$/);
      expect(services[name]!.depends_on?.['kafka-init']?.condition).toBe('service_completed_successfully');
    }
  });

  it('ships the Replicated/Distributed ClickHouse schema the compose file mounts', async () => {
    const sql = await readFile(path.join(root, 'infra/clickhouse/schema-replicated.sql'), 'utf8');
    expect(sql).toMatch(
      /ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/gatehouse\/events', '\{replica\}'\)/,
    );
    expect(sql).toMatch(
      /ENGINE = Distributed\(gatehouse, gatehouse, events_local, cityHash64\(session_id\)\)/,
    );
  });
});
