/**
 * Gateway latency: what the ingress adds to an allowed `tools/call`.
 *
 * One process hosts an upstream MCP server (the support desk, SDK `McpServer` over Streamable
 * HTTP), the ingress in front of it (perimeter with a real JWKS-verified token, per-tool decision
 * by the real compiled policy,
 * `call.attempted` appended durably to the embedded log before forwarding, outcome appended after)
 * and SDK clients (`Client` + `StreamableHTTPClientTransport`). Side by side in one run — directly
 * to the upstream, through the gateway with the embedded log (fsync'd), and through a second
 * gateway with the in-memory log (the gateway's own cost without the disk):
 *
 * 1. latency p50/p99 at a fixed 200 calls/s on one session (open loop: a call starts every 5 ms
 *    whatever the previous ones do);
 * 2. calls/s and process CPU per call at saturation (closed loop, 8 sessions, one call in flight each);
 * 3. a long run through ONE upstream connection (100k calls, 5k with --quick): heap used and
 *    active handles at start/middle/end (after a forced GC) — they must stay flat. For contrast,
 *    the `abort` listener count on a plain SDK client's long-lived signal after 5k calls (the SDK
 *    1.32 leak; the ingress's node:http upstream transport uses no AbortSignal).
 */
import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMemoryLog, openEmbeddedLog, type EventLog } from '@gatehouse/eventlog';
import { createIngress, type Ingress } from '@gatehouse/ingress';
import { loadPolicy } from '@gatehouse/policy';
import { createSupportDeskServer } from '@gatehouse/support-desk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import type { Bench, BenchResult } from './bench-types.js';

const RESOURCE = 'http://127.0.0.1/mcp';
const CALL = { name: 'read_ticket', arguments: { ticket_id: 'T-1001' } };

/** Forces a full GC (exposes `gc` at run time when node was not started with --expose-gc). */
function forceGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;
const mib = (bytes: number): number => round(bytes / 2 ** 20, 1);

/** The support desk over Streamable HTTP, one SDK server + transport per session. */
async function startUpstream(): Promise<{ url: string; close: () => Promise<void> }> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const server: HttpServer = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body =
        chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
      const sessionId = req.headers['mcp-session-id'];
      let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
      if (!transport) {
        const created = new StreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          onsessioninitialized: (id) => void transports.set(id, created),
        });
        await createSupportDeskServer({ recordFile: '' }).connect(created);
        transport = created;
      }
      await transport.handleRequest(req, res, body);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: async () => {
      await Promise.all([...transports.values()].map((t) => t.close()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A JWKS endpoint and a token for ops-agent. */
async function startIssuer(): Promise<{
  issuer: string;
  jwksUri: string;
  token: string;
  close: () => Promise<void>;
}> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' };
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = await new SignJWT({ client_id: 'ops-agent', scope: 'mcp:tools' })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: 'at+jwt' })
    .setIssuer(issuer)
    .setAudience(RESOURCE)
    .setSubject('admin')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    token,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function connect(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(transport);
  return { client, transport };
}

/** Open loop at `rate` calls/s for `count` calls; per-call latency in ms. */
async function fixedRate(
  client: Client,
  tool: string,
  rate: number,
  count: number,
): Promise<{ p50: number; p99: number; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const interval = 1000 / rate;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const t0 = performance.now();
    pending.push(
      client.callTool({ name: tool, arguments: CALL.arguments }).then(
        () => void latencies.push(performance.now() - t0),
        () => void (errors += 1),
      ),
    );
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

/**
 * Closed loop: `clients` sessions, one call in flight each, for `durationMs`. Returns calls/s and
 * the process CPU time per call (user + system, ms) — less sensitive than wall-clock figures to
 * other load on a shared machine.
 */
async function saturation(
  clients: Client[],
  tool: string,
  durationMs: number,
): Promise<{ rate: number; cpuMsPerCall: number }> {
  let done = 0;
  const until = performance.now() + durationMs;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < until) {
        await client.callTool({ name: tool, arguments: CALL.arguments });
        done += 1;
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  return {
    rate: done / ((performance.now() - started) / 1000),
    cpuMsPerCall: (cpu.user + cpu.system) / 1000 / done,
  };
}

export const run: Bench = async ({ quick, progress }): Promise<BenchResult> => {
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 250);
  const fixedCount = quick ? 400 : 2_000;
  const saturationMs = quick ? 3_000 : 10_000;
  const longCalls = quick ? 5_000 : 100_000;
  const concurrency = 8;

  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-bench-gateway-'));
  const upstream = await startUpstream();
  const issuer = await startIssuer();
  const embeddedLog = await openEmbeddedLog({ dir: path.join(dir, 'log') });
  const memoryLog = createMemoryLog();
  const ingresses: Ingress[] = [];
  const clients: Client[] = [];
  try {
    // The demo's rules (examples/support-desk/gatehouse.yaml): ops-agent acting for admin may read tickets.
    const policy = await loadPolicy(
      {
        rules: [
          ['agent:support-bot', 'support__read_ticket', 'allow'],
          ['agent:ops-agent', '*', 'allow'],
          ['agent:ops-agent', 'support__close_account', 'deny'],
          ['role:support-staff', 'support__*', 'allow'],
          ['role:support-staff', 'support__export_customers', 'deny'],
          ['user:admin', '*', 'allow'],
        ],
        roles: [['user:alice', 'role:support-staff']],
      },
      { source: 'bench' },
    );
    const startGateway = async (
      log: EventLog,
      instanceId: string,
    ): Promise<{ ingress: Ingress; url: string }> => {
      const ingress = await createIngress({
        config: {
          gateway: {
            resource: RESOURCE,
            issuer: issuer.issuer,
            jwksUri: issuer.jwksUri,
            allowedHosts: ['127.0.0.1'],
          },
          upstreams: { support: { url: upstream.url } },
        },
        log,
        policy,
        logger: pino({ level: 'warn' }),
        instanceId,
      });
      ingresses.push(ingress);
      return { ingress, url: `${await ingress.listen(0, '127.0.0.1')}/mcp` };
    };
    const embedded = await startGateway(embeddedLog, 'bench-embedded');
    const memory = await startGateway(memoryLog, 'bench-memory');
    const auth = { authorization: `Bearer ${issuer.token}` };
    const track = async (url: string, headers: Record<string, string> = {}) => {
      const connected = await connect(url, headers);
      clients.push(connected.client);
      return connected;
    };
    const targets = [
      { name: 'direct', url: upstream.url, headers: {}, tool: 'read_ticket' },
      { name: 'gateway (embedded log)', url: embedded.url, headers: auth, tool: 'support__read_ticket' },
      { name: 'gateway (memory log)', url: memory.url, headers: auth, tool: 'support__read_ticket' },
    ];

    const fixed: { p50: number; p99: number; errors: number }[] = [];
    const saturated: { rate: number; cpuMsPerCall: number }[] = [];
    const pools: Client[][] = [];
    for (const target of targets) {
      const single = await track(target.url, target.headers);
      progress(`${target.name}: warm-up, then fixed rate 200 calls/s × ${fixedCount}`);
      for (let i = 0; i < 200; i++)
        await single.client.callTool({ name: target.tool, arguments: CALL.arguments });
      fixed.push(await fixedRate(single.client, target.tool, 200, fixedCount));
      progress(`${target.name}: saturation, ${concurrency} sessions × ${saturationMs / 1000} s`);
      const pool = await Promise.all(
        Array.from({ length: concurrency }, () => track(target.url, target.headers)),
      );
      pools.push(pool.map((c) => c.client));
      saturated.push(await saturation(pools.at(-1)!, target.tool, saturationMs));
    }

    progress(`long run: ${longCalls} calls through one upstream connection (embedded log)`);
    const upstreamStats = () => embedded.ingress.stats().upstreams.support!;
    const connectsBefore = upstreamStats().connects;
    forceGc();
    const heapStart = process.memoryUsage().heapUsed;
    let heapMiddle = 0;
    const resourcesStart = process.getActiveResourcesInfo().length;
    let resourcesMiddle = 0;
    let issued = 0;
    const longStarted = performance.now();
    await Promise.all(
      pools[1]!.slice(0, 4).map(async (client) => {
        for (;;) {
          const index = issued++;
          if (index >= longCalls) return;
          await client.callTool({ name: 'support__read_ticket', arguments: CALL.arguments });
          if (index === Math.floor(longCalls / 2)) {
            forceGc();
            heapMiddle = process.memoryUsage().heapUsed;
            resourcesMiddle = process.getActiveResourcesInfo().length;
          }
          if (index > 0 && index % 10_000 === 0) progress(`  ${index} calls`);
        }
      }),
    );
    const longRate = longCalls / ((performance.now() - longStarted) / 1000);
    await embedded.ingress.flush();
    forceGc();
    const heapEnd = process.memoryUsage().heapUsed;
    const resourcesEnd = process.getActiveResourcesInfo().length;
    const inFlightEnd = upstreamStats().inFlightHttpRequests;
    const reconnects = upstreamStats().connects - connectsBefore;

    const contrastCalls = Math.min(longCalls, 5_000);
    progress(`contrast: ${contrastCalls} calls on one plain SDK client (no workaround)`);
    const plain = await track(upstream.url);
    const originalEmit = process.emitWarning;
    process.emitWarning = () => undefined; // the very warning being demonstrated
    try {
      for (let i = 0; i < contrastCalls; i++) await plain.client.callTool(CALL);
    } finally {
      process.emitWarning = originalEmit;
    }
    const plainController = (plain.transport as unknown as { _abortController?: AbortController })
      ._abortController;
    const plainListeners = plainController ? getEventListeners(plainController.signal, 'abort').length : NaN;

    const at = (i: number) => ({ fixed: fixed[i]!, sat: saturated[i]! });
    const [d, e, m] = [at(0), at(1), at(2)];
    const heapGrowth = heapEnd - heapStart;
    const row = (measure: string, pick: (x: ReturnType<typeof at>) => number, digits = 2) => ({
      measure,
      direct: round(pick(d), digits),
      'gateway (embedded log)': round(pick(e), digits),
      'added (embedded)': round(pick(e) - pick(d), digits),
      'gateway (memory log)': round(pick(m), digits),
      'added (memory)': round(pick(m) - pick(d), digits),
    });
    return {
      title: 'Gateway: added latency of an allowed tools/call (audit on)',
      rows: [
        row('p50 at 200 calls/s (ms)', (x) => x.fixed.p50),
        row('p99 at 200 calls/s (ms)', (x) => x.fixed.p99),
        row(`calls/s at saturation (${concurrency} sessions)`, (x) => x.sat.rate, 0),
        row('CPU per call at saturation, whole process (ms)', (x) => x.sat.cpuMsPerCall, 3),
        {
          measure: `long run: ${longCalls} calls (embedded log), calls/s`,
          'gateway (embedded log)': Math.round(longRate),
        },
        {
          measure: 'long run: heap used start / middle / end (MiB, after GC)',
          'gateway (embedded log)': `${mib(heapStart)} / ${mib(heapMiddle)} / ${mib(heapEnd)}`,
        },
        {
          measure: 'long run: active handles start / middle / end',
          'gateway (embedded log)': `${resourcesStart} / ${resourcesMiddle} / ${resourcesEnd}`,
        },
        {
          measure: `abort listeners on the upstream client's long-lived signal after ${contrastCalls} calls`,
          direct: `${plainListeners} (plain SDK client)`,
          'gateway (embedded log)': '0 (node:http transport, no signal)',
        },
      ],
      peakRssMiB: peakRss / 2 ** 20,
      notes: [
        `errors at fixed rate: ${fixed.map((f, i) => `${targets[i]!.name} ${f.errors}`).join(', ')}; upstream reconnects during the long run: ${reconnects}; upstream requests still open at the end: ${inFlightEnd}`,
        `heap growth over the long run: ${mib(heapGrowth)} MiB (${round(heapGrowth / longCalls, 1)} B/call) — flat if ≤ a few MiB`,
        `the gateway does two SDK hops (caller→gateway, gateway→upstream) plus a durable call.attempted and a lingering outcome append per call; the embedded log adds an fsync wait before each forward`,
        `target: the gateway's own CPU per call ("added" CPU row) below the whole direct SDK pair's (${round(d.sat.cpuMsPerCall, 3)} ms) — ${e.sat.cpuMsPerCall - d.sat.cpuMsPerCall < d.sat.cpuMsPerCall ? 'met' : 'not met'}`,
        "the plain SDK client shows the 1.32 leak (one abort listener per call until GC); the gateway's upstream transport (node:http, keep-alive) registers none",
        quick
          ? 'quick mode: 400 calls per fixed-rate run, 3 s saturation, 5k long run'
          : 'full mode: 2,000 calls per fixed-rate run, 10 s saturation, 100k long run',
      ],
    };
  } finally {
    clearInterval(rssTimer);
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    for (const ingress of ingresses) await ingress.close();
    await embeddedLog.close();
    await memoryLog.close();
    await upstream.close();
    await issuer.close();
    await rm(dir, { recursive: true, force: true });
  }
};
