import { randomUUID } from 'node:crypto';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KeyCachingPartitioner, MAX_REMEMBERED_KEYS } from '../src/kafka/key-partitioner.js';

const metadata = (count: number): PartitionMetadata[] =>
  Array.from({ length: count }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));
const args = (key: string | null, count: number, partition?: number) => ({
  topic: 'gatehouse.audit',
  partitionMetadata: metadata(count),
  message: { key, value: 'v', ...(partition === undefined ? {} : { partition }) },
});

describe('KeyCachingPartitioner', () => {
  it('puts every key where kafkajs’s DefaultPartitioner (murmur2, as the Java client) puts it, asked again and again', () => {
    const cached = KeyCachingPartitioner();
    const reference = Partitioners.DefaultPartitioner();
    const keys = [...Array.from({ length: 500 }, () => randomUUID()), 'policy', 'catalog:support', 'ü-ñ-键'];
    for (const count of [6, 1, 6, 12, 3]) {
      for (let round = 0; round < 2; round++) {
        for (const key of keys) expect(cached(args(key, count))).toBe(reference(args(key, count)));
      }
    }
  });

  it('keeps a partition the record names, and leaves records without a key to the default', () => {
    const cached = KeyCachingPartitioner();
    expect(cached(args('session-1', 6, 4))).toBe(4);
    const unkeyed = new Set(Array.from({ length: 12 }, () => cached(args(null, 6))));
    expect(unkeyed.size).toBeGreaterThan(1); // round robin, as the default does
  });

  it('stays right past MAX_REMEMBERED_KEYS keys', () => {
    const cached = KeyCachingPartitioner();
    const reference = Partitioners.DefaultPartitioner();
    const first = 'session-first';
    const expected = reference(args(first, 6));
    expect(cached(args(first, 6))).toBe(expected);
    for (let i = 0; i < MAX_REMEMBERED_KEYS + 10; i++) cached(args(`session-${i}`, 6));
    expect(cached(args(first, 6))).toBe(expected);
    for (let i = 0; i < 100; i++)
      expect(cached(args(`session-${i}`, 6))).toBe(reference(args(`session-${i}`, 6)));
  });
});
