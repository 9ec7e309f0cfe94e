import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { attempt, playDemo } from '../packages/cli/src/commands/demo.js';
import { startTestStack, type TestStack } from './support/test-stack.js';

const run = promisify(execFile);
const GATEHOUSE = path.resolve(import.meta.dirname, '../packages/cli/bin/gatehouse.js');

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
    expect(report.failures).toEqual([]);
    expect(lines.join('\n')).toContain('refused by the gateway: MCP error -32003: tool not permitted');

    // The gateway's health shows its embedded log's commits: inline or through the pool.
    const health = (await (await fetch(new URL('/healthz', t.stack.urls.mcp))).json()) as {
      log?: { kind: string; commits?: { inline: number; pooled: number; inlineHeldMs: number } };
    };
    expect(health.log).toMatchObject({
      kind: 'embedded+spool', // the stack's embedded log, spooling outcomes
      commits: { inline: expect.any(Number), pooled: expect.any(Number), inlineHeldMs: expect.any(Number) },
    });
    const commits = health.log!.commits!;
    expect(commits.inline + commits.pooled).toBeGreaterThan(0);
    expect(Number.isFinite(commits.inlineHeldMs)).toBe(true);
  });
});

/** `gatehouse demo` must not pass when the scenario does not happen: a script relies on its exit code. */
describe('the support-desk demo against a gateway that lets the agent do anything', () => {
  let t: TestStack;
  let scratch = '';
  beforeAll(async () => {
    t = await startTestStack({
      edit: (config) => {
        config.policy = {
          rules: [
            ['agent:support-bot', '*', 'allow'],
            ['user:alice', '*', 'allow'],
          ],
          roles: [],
        };
      },
    });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-demo-'));
  });
  afterAll(async () => {
    await t?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('exits 1, naming every expectation that failed', async () => {
    const configPath = path.join(scratch, 'gatehouse.yaml');
    await writeFile(configPath, stringify(t.config));
    const failure = await run(process.execPath, [GATEHOUSE, 'demo'], {
      env: {
        ...process.env,
        GATEHOUSE_CONFIG: configPath,
        GATEHOUSE_DATA_DIR: t.dataDir,
        GATEHOUSE_INGRESS_PORT: String(t.settings.ingressPort),
        GATEHOUSE_QUERY_PORT: String(t.settings.queryPort),
        GATEHOUSE_AUTH_PORT: String(t.settings.authPort),
        LOG_LEVEL: 'warn',
      },
      timeout: 60_000,
    }).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toContain('NOT REFUSED: the call went through');
    expect(failure?.stderr).toContain('demo FAILED');
    for (const tool of ['support__export_customers', 'support__issue_refund']) {
      expect(failure?.stderr).toContain(`${tool} was listed to the agent, which may not call it`);
      expect(failure?.stderr).toContain(`${tool} was not refused: the call went through`);
      expect(failure?.stderr).toContain(`has no call.denied of ${tool}`);
    }
    expect(failure?.stderr).not.toContain('hash chain');
  });
});

describe('attempt: what counts as the gateway refusing a call', () => {
  it('only the JSON-RPC error tool-not-permitted (-32003)', async () => {
    const refused = await attempt(() =>
      Promise.reject(new McpError(-32003, 'MCP error -32003: tool not permitted: support__export_customers')),
    );
    expect(refused).toEqual({
      refusal: 'MCP error -32003: tool not permitted: support__export_customers',
      otherError: null,
    });
  });

  it('not the audit log being unavailable, a network failure, or a call that went through', async () => {
    expect(
      await attempt(() => Promise.reject(new McpError(-32004, 'audit log unavailable; call refused'))),
    ).toEqual({ refusal: null, otherError: 'MCP error -32004: audit log unavailable; call refused' });
    expect(await attempt(() => Promise.reject(new TypeError('fetch failed')))).toEqual({
      refusal: null,
      otherError: 'fetch failed',
    });
    expect(await attempt(() => Promise.resolve({ content: [] }))).toEqual({
      refusal: null,
      otherError: null,
    });
  });
});
