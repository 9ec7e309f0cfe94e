import { defineConfig } from 'vitest/config';

/**
 * One run covers every package: colocated unit tests (`*.test.ts`), integration tests against real
 * services (`*.int.test.ts`) and the end-to-end suite in `test/`. Integration tests start real
 * processes (Kafka, chDB, MCP servers), so they get generous timeouts and run in forks.
 */
export default defineConfig({
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'services/*/test/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    pool: 'forks',
    // Starts a Kafka broker for the Kafka tests when KAFKA_BROKERS is unset (see the file).
    globalSetup: ['test/support/kafka.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
