import { afterAll, describe, expect, it } from 'vitest';
import { verifyChain } from '@gatehouse/events';
import { startTestStack, type TestStack } from './support/test-stack.js';

/** Named streams (`policy`, `catalog:<server>`) outlive a process: a restart continues their chains. */
describe('a restarted gateway', () => {
  let t: TestStack | undefined;
  afterAll(async () => {
    await t?.stop();
  });

  it('continues the policy and catalog chains instead of starting a second seq 0', async () => {
    t = await startTestStack();
    const { settings, config } = t;
    await t.stack.close();
    const { startStack } = await import('../packages/cli/src/stack.js');
    const { pino } = await import('pino');
    const again = await startStack({ settings, config, logger: pino({ level: 'silent' }) });
    try {
      await again.projector.drain(30_000);
      const policy = await again.store.sessionEvents('policy');
      expect(policy.map((e) => e.seq)).toEqual([0, 1]);
      expect(verifyChain(policy).ok).toBe(true);
      const catalog = await again.store.sessionEvents('catalog:support');
      expect(catalog.map((e) => e.seq)).toEqual([0, 1]);
      expect(verifyChain(catalog).ok).toBe(true);
    } finally {
      await again.close();
    }
  });
});
