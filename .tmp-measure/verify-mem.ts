import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ChainRegistry, events as constructors, sha256Hex, type GatehouseEvent } from '@gatehouse/events';
import { openAuditStore } from '@gatehouse/store';
import { verifyStoredSession } from '@gatehouse/query-api';

const N = Number(process.env.N ?? 200_000);
const pageRows = Number(process.env.PAGE ?? 10_000);
const dir = process.env.DIR ?? (await mkdtemp(path.join(os.tmpdir(), 'verify-mem-')));
const store = await openAuditStore({ dataDir: dir, maxThreads: 1 });
if (!process.env.DIR) {
  const chains = new ChainRegistry();
  const ctx = { session_id: 'big', agent: 'support-bot', user: 'alice', scopes: ['mcp:tools'], client_ip: '127.0.0.1', user_agent: 'x' };
  const decision = { allowed: true, rule: 'allow', policy_version: 'a'.repeat(64) };
  for (let b = 0; b < N / 10_000; b++) {
    const batch: GatehouseEvent[] = [];
    for (let i = 0; i < 10_000; i++) {
      const n = b * 10_000 + i;
      batch.push(chains.seal(constructors.callAttempted(ctx, { server: 'support', tool: 'support__read_ticket', request_id: String(n), args: { ticket: n, note: 'x'.repeat(200) }, args_sha256: sha256Hex(String(n)) }, decision)));
    }
    await store.insertEvents(batch, `m/${b}`);
  }
  console.log('dir', dir);
}
global.gc?.();
const before = process.memoryUsage().rss;
let peakHeap = 0;
const t = setInterval(() => { peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed); }, 20);
const started = performance.now();
const answer = await verifyStoredSession(store, 'big', new Map(), pageRows);
clearInterval(t);
console.log(JSON.stringify({ pageRows, events: answer?.events, intact: answer?.intact, ms: Math.round(performance.now() - started), peakHeapMiB: Math.round(peakHeap / 2 ** 20), rssBeforeMiB: Math.round(before / 2 ** 20), maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
await store.close();
