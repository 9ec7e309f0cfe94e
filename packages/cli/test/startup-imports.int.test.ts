import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const GATEHOUSE = path.resolve(import.meta.dirname, '../bin/gatehouse.js');
const RECORDER = path.resolve(import.meta.dirname, 'support/record-imports.mjs');

/**
 * Packages that only the commands running the product need: the development authserver
 * (oidc-provider, which on Node 20 also prints "Unsupported runtime" when loaded), the HTTP servers,
 * ClickHouse and the MCP SDK.
 */
const SERVER_PACKAGES = [
  'oidc-provider',
  'fastify',
  'chdb',
  '@clickhouse/client',
  '@modelcontextprotocol/sdk',
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-imports-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the real `gatehouse` entry; returns its stderr and every module URL it resolved. */
async function gatehouse(name: string, ...args: string[]): Promise<{ stderr: string; modules: string[] }> {
  const file = path.join(dir, `${name}.txt`);
  let stderr: string;
  try {
    ({ stderr } = await run(process.execPath, ['--import', RECORDER, GATEHOUSE, ...args], {
      env: { ...process.env, GATEHOUSE_TOKEN: '', RECORD_IMPORTS_FILE: file },
      timeout: 30_000,
    }));
  } catch (error) {
    const failed = error as { code?: unknown; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    stderr = failed.stderr ?? '';
  }
  return { stderr, modules: (await readFile(file, 'utf8')).split('\n').filter(Boolean) };
}

function packagesAmong(modules: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const url of modules) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (match) names.add(match[1]!);
  }
  return names;
}

/**
 * The commands that answer from the query API or the config load none of the server side: they
 * start faster, and print nothing but their answer or their error.
 */
describe.concurrent('what the CLI loads', () => {
  it.each([
    ['help', ['--help']],
    ['can', ['can', 'support-bot', '--api', 'http://127.0.0.1:1', '--token', 'x']],
    ['verify', ['verify', 'some-session', '--api', 'http://127.0.0.1:1', '--token', 'x']],
    ['token', ['token', '--client', 'nobody']],
  ])('`gatehouse %s` loads no server package', async (name, args) => {
    const { stderr, modules } = await gatehouse(name, ...args);
    expect(modules.length).toBeGreaterThan(0);
    const loaded = packagesAmong(modules);
    expect(loaded.has('commander')).toBe(true);
    for (const server of SERVER_PACKAGES) expect(loaded, server).not.toContain(server);
    expect(stderr).not.toMatch(/WARNING|Unsupported runtime/);
  });

  it('the time words load the English parser only, not every locale of chrono-node', async () => {
    const { modules } = await gatehouse('can-locales', 'can', 'x', '--api', 'http://127.0.0.1:1');
    const chrono = modules.filter((url) => url.includes('/node_modules/chrono-node/'));
    expect(chrono.some((url) => url.includes('/locales/en/'))).toBe(true);
    expect(chrono.filter((url) => /\/locales\/(?!en\/)/.test(url))).toEqual([]);
  });
});
