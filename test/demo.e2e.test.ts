import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playDemo } from '../packages/cli/src/commands/demo.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

/**
 * The support-desk scenario of DESIGN.md, end to end in embedded mode: authserver, ingress with the
 * real demo upstream over stdio, embedded log, projector, chDB, query API.
 */
describe('the support-desk demo', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses the compromised agent, and the record shows the refusal with its rule and an intact chain', async () => {
    const lines: string[] = [];
    const report = await playDemo(t.config, {
      mcpUrl: t.stack.urls.mcp,
      queryUrl: t.stack.urls.query,
      say: (line) => lines.push(line),
      settle: () => t.stack.projector.drain(30_000),
    });

    expect(report.visibleTools.sort()).toEqual([
      'support__draft_reply',
      'support__list_open_tickets',
      'support__read_ticket',
    ]);
    expect(report.hostileInstructionSeen).toBe(true);
    expect(report.exportRefusal).toMatch(/support__export_customers/);
    expect(report.refundRefusal).toMatch(/support__issue_refund/);
    expect(report.deniedInRecord.map((d) => d.tool).sort()).toEqual([
      'support__export_customers',
      'support__issue_refund',
    ]);
    for (const denied of report.deniedInRecord) expect(denied.rule).not.toBe('');
    expect(report.verified).toBe(true);
    expect(lines.join('\n')).toContain('refused by the gateway');
  });
});
