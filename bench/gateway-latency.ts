/**
 * Gateway latency: what the ingress adds to an allowed `tools/call`.
 *
 * One process hosts an upstream MCP server (the support desk, SDK `McpServer` over Streamable
 * HTTP), the ingress in front of it (perimeter with a real JWKS-verified token, per-tool decision
 * by the real compiled policy, `call.attempted` appended durably to the embedded log before
 * forwarding, outcome appended after) and the load generator: a lean MCP client (node:http
 * keep-alive, a real session: `initialize`, then `tools/call` with the session header), the same
 * for every path, so that the SDK client's own cost is charged to neither. Side by side, in
 * interleaved rounds (the order rotated each round, because the machine is shared) — directly to
 * the upstream, through the gateway with the embedded log (fsync'd), through a second gateway
 * with the in-memory log (the gateway's own cost without the disk), and through a third gateway
 * (embedded log) in a process of its own, as it runs in production (this file with
 * `GATEWAY_BENCH_CHILD=1`; its CPU read from /proc):
 *
 * 1. latency p50/p99 at a fixed 200 calls/s on one session (open loop: a call starts every 5 ms
 *    whatever the previous ones do), pooled over the rounds and per round;
 * 2. calls/s and process CPU per call at saturation (closed loop, 8 sessions, one call in flight
 *    each); the in-process gateways' own CPU per call is the difference to the direct path, and
 *    1,000 / it is the calls/s one core could audit if the gateway had it to itself; then the
 *    direct path and the own-process gateway with 32 and 64 sessions (32 with --quick), because 8
 *    calls in flight leave a gateway in its own process mostly waiting for the hops between
 *    processes;
 * 3. the disk's write + fdatasync latency, which every durable `call.attempted` waits for;
 *    where an in-process gateway's time goes at 200 calls/s, in a run of its own after the rounds,
 *    is read from Node's own HTTP diagnostics channels and the log's appends (`StageClock`):
 *    request in → durable append → request to the upstream → its answer → response written;
 * 4. a long run through ONE upstream connection (100k calls, 5k with --quick): heap used and
 *    active handles at start/middle/end (after a forced GC) — they must stay flat. For contrast,
 *    the `abort` listener count on a plain SDK client's long-lived signal after 5k calls (the SDK
 *    1.32 leak; the ingress's node:http upstream transport uses no AbortSignal).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import { mkdtemp, open, rm } from 'node:fs/promises';
import {
  Agent as HttpAgent,
  createServer,
  request as httpRequest,
  type Server as HttpServer,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMemoryLog, openEmbeddedLog, type EventLog } from '@gatehouse/eventlog';
import { createIngress, type Ingress } from '@gatehouse/ingress';
import { loadPolicy, type PolicyConfigInput } from '@gatehouse/policy';
import { createSupportDeskServer } from '@gatehouse/support-desk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { cpuMsOfPid, onLines, runIfChild, type Bench, type BenchResult } from './bench-types.js';

const RESOURCE = 'http://127.0.0.1/mcp';
const here = fileURLToPath(import.meta.url);
/** The demo's rules (examples/support-desk/gatehouse.yaml): ops-agent acting for admin may read tickets. */
const POLICY: PolicyConfigInput = {
  rules: [
    ['agent:support-bot', 'support__read_ticket', 'allow'],
    ['agent:ops-agent', '*', 'allow'],
    ['agent:ops-agent', 'support__close_account', 'deny'],
    ['role:support-staff', 'support__*', 'allow'],
    ['role:support-staff', 'support__export_customers', 'deny'],
    ['user:admin', '*', 'allow'],
  ],
  roles: [['user:alice', 'role:support-staff']],
};
const CALL = { name: 'read_ticket', arguments: { ticket_id: 'T-1001' } };
const PROTOCOL_VERSION = LATEST_PROTOCOL_VERSION;

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

/**
 * A lean MCP Streamable HTTP client for load generation, used for the direct and the gateway paths
 * alike: one real session (`initialize`, `notifications/initialized`, then `tools/call` with the
 * `Mcp-Session-Id` and `MCP-Protocol-Version` headers) over a node:http keep-alive agent, reading
 * JSON or SSE answers. The SDK `Client` costs more CPU per call than the gateway's own hot path,
 * and on 2 shared cores that cost would be charged to whichever path it drives.
 */
class LeanMcpClient {
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  // Idle connections close after 4 s, before the servers' 5 s keep-alive, so no call races a close.
  readonly #agent = new HttpAgent({ keepAlive: true, maxSockets: 2, timeout: 4_000 });
  #sessionId: string | undefined;
  #nextId = 0;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.#url = new URL(url);
    this.#headers = headers;
  }

  async initialize(): Promise<void> {
    await this.#request('initialize', {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'bench', version: '1' },
    });
    const answer = await this.#post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    if (answer.status !== 202) throw new Error(`notifications/initialized: HTTP ${answer.status}`);
  }

  /** Resolves with the tool result; rejects on a JSON-RPC error, a tool error or a non-200 answer. */
  async callTool(name: string, args: Record<string, unknown>): Promise<unknown> {
    const result = (await this.#request('tools/call', { name, arguments: args })) as { isError?: boolean };
    if (result.isError === true) throw new Error(`${name}: tool error`);
    return result;
  }

  close(): void {
    this.#agent.destroy();
  }

  async #request(method: string, params: unknown): Promise<unknown> {
    const id = (this.#nextId += 1);
    const answer = await this.#post({ jsonrpc: '2.0', id, method, params });
    if (answer.status !== 200)
      throw new Error(`${method}: HTTP ${answer.status} ${answer.text.slice(0, 200)}`);
    const texts = answer.type.startsWith('text/event-stream')
      ? answer.text
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5))
      : [answer.text];
    for (const text of texts) {
      const message = JSON.parse(text) as { id?: unknown; result?: unknown; error?: { message?: string } };
      if (message.id !== id) continue;
      if (message.error) throw new Error(`${method}: ${message.error.message ?? 'error'}`);
      return message.result;
    }
    throw new Error(`${method}: no answer for request ${id}`);
  }

  #post(message: unknown): Promise<{ status: number; type: string; text: string }> {
    const body = JSON.stringify(message);
    const headers: Record<string, string | number> = {
      ...this.#headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'content-length': Buffer.byteLength(body),
    };
    if (this.#sessionId !== undefined) {
      headers['mcp-session-id'] = this.#sessionId;
      headers['mcp-protocol-version'] = PROTOCOL_VERSION;
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest(this.#url, { method: 'POST', agent: this.#agent, headers }, (res) => {
        const session = res.headers['mcp-session-id'];
        if (typeof session === 'string') this.#sessionId = session;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** Open loop at `rate` calls/s for `count` calls; per-call latencies in ms. */
async function fixedRate(
  client: LeanMcpClient,
  tool: string,
  rate: number,
  count: number,
): Promise<{ latencies: number[]; errors: number }> {
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
      client.callTool(tool, CALL.arguments).then(
        () => void latencies.push(performance.now() - t0),
        () => void (errors += 1),
      ),
    );
  }
  await Promise.all(pending);
  return { latencies, errors };
}

/**
 * Closed loop: `clients` sessions, one call in flight each, for `durationMs`. Returns calls, wall
 * time and the process CPU time (user + system) — CPU per call is less sensitive than wall-clock
 * figures to other load on a shared machine.
 */
async function saturation(
  clients: LeanMcpClient[],
  tool: string,
  durationMs: number,
): Promise<{ calls: number; wallMs: number; cpuMs: number }> {
  let calls = 0;
  const until = performance.now() + durationMs;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < until) {
        await client.callTool(tool, CALL.arguments);
        calls += 1;
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  return { calls, wallMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Latency of one small write + fdatasync in `dir` (what the embedded log waits for per group commit), ms. */
async function fsyncLatencies(dir: string, count: number): Promise<number[]> {
  const handle = await open(path.join(dir, 'fsync-probe'), 'w');
  const block = Buffer.alloc(1_024, 1);
  const out: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await handle.write(block, 0, block.length, i * block.length);
      await handle.datasync();
      out.push(performance.now() - t0);
    }
  } finally {
    await handle.close();
  }
  return out;
}

/** The stages of one gateway call `StageClock` times, in order. */
const STAGES = [
  'request in → append starts',
  'durable append',
  'append → request to upstream',
  'upstream answers',
  'answer → response written',
] as const;

/**
 * Times the stages of calls through one in-process gateway from its construction to `close`, one
 * call at a time (200 calls/s leaves each call alone): Node's HTTP diagnostics channels mark the gateway's request and response
 * (`http.server.*` on the gateway's port) and its request to the upstream and the answer
 * (`http.client.*` to the upstream's port); `append` marks the log append that carries the call's
 * `call.attempted` (see `timedLog`). A call whose marks are not all there, once each in order, is
 * left out.
 */
class StageClock {
  readonly #gatewayPort: number;
  readonly #upstreamHost: string;
  #current: number[] | undefined;
  readonly #done: number[][] = [];
  readonly #onServerStart = (message: unknown) => {
    if (this.#onGateway(message)) this.#current = [performance.now()];
  };
  readonly #onServerFinish = (message: unknown) => {
    if (this.#onGateway(message)) this.#mark(5);
  };
  readonly #onClientStart = (message: unknown) => {
    if (this.#toUpstream(message)) this.#mark(3);
  };
  readonly #onClientFinish = (message: unknown) => {
    if (this.#toUpstream(message)) this.#mark(4);
  };

  constructor(gatewayUrl: string, upstreamUrl: string) {
    this.#gatewayPort = Number(new URL(gatewayUrl).port);
    this.#upstreamHost = new URL(upstreamUrl).host;
    diagnostics.subscribe('http.server.request.start', this.#onServerStart);
    diagnostics.subscribe('http.server.response.finish', this.#onServerFinish);
    diagnostics.subscribe('http.client.request.start', this.#onClientStart);
    diagnostics.subscribe('http.client.response.finish', this.#onClientFinish);
  }

  /** The log append of a call's `call.attempted`: started (1) and durable (2). */
  append(started: number, ended: number): void {
    if (this.#current?.length !== 1) return void (this.#current = undefined);
    this.#current.push(started, ended);
  }

  /** Median ms of each stage over the calls timed. */
  medians(): { calls: number; stages: number[] } {
    const stages = STAGES.map((_, i) => {
      const spans = this.#done.map((marks) => marks[i + 1]! - marks[i]!).sort((a, b) => a - b);
      return percentile(spans, 50);
    });
    return { calls: this.#done.length, stages };
  }

  close(): void {
    diagnostics.unsubscribe('http.server.request.start', this.#onServerStart);
    diagnostics.unsubscribe('http.server.response.finish', this.#onServerFinish);
    diagnostics.unsubscribe('http.client.request.start', this.#onClientStart);
    diagnostics.unsubscribe('http.client.response.finish', this.#onClientFinish);
  }

  /** Records mark `index` of the call in progress, or drops the call when a mark is out of order. */
  #mark(index: number): void {
    const current = this.#current;
    if (current === undefined) return;
    if (current.length !== index) return void (this.#current = undefined);
    current.push(performance.now());
    if (index === 5) {
      this.#done.push(current);
      this.#current = undefined;
    }
  }

  #onGateway(message: unknown): boolean {
    return (message as { socket?: { localPort?: number } }).socket?.localPort === this.#gatewayPort;
  }

  #toUpstream(message: unknown): boolean {
    const request = (message as { request?: { getHeader?: (name: string) => unknown } }).request;
    return request?.getHeader?.('host') === this.#upstreamHost;
  }
}

/**
 * `log` with every `append` timed into `into` while `recording()` is true: what a durable
 * `call.attempted` waits for (the embedded log: encode, group commit, write, fdatasync).
 */
function timedLog(
  log: EventLog,
  into: number[],
  recording: () => boolean,
  onAttempted?: (started: number, ended: number) => void,
): EventLog {
  return {
    kind: log.kind,
    append: async (events) => {
      const t0 = performance.now();
      await log.append(events);
      const t1 = performance.now();
      if (recording()) into.push(t1 - t0);
      if (onAttempted !== undefined && events.some((event) => event.type === 'call.attempted'))
        onAttempted(t0, t1);
    },
    openConsumer: (group, options) => log.openConsumer(group, options),
    close: () => log.close(),
    commitCounts: () => log.commitCounts?.(),
  };
}

/**
 * The gateway in a process of its own, as it runs in production (this file with
 * `GATEWAY_BENCH_CHILD=1`): embedded log, the same policy and config as the in-process gateways.
 * It prints `url <mcp endpoint>` once it listens and shuts down when its stdin ends.
 */
async function startGatewayProcess(env: {
  upstreamUrl: string;
  issuer: string;
  jwksUri: string;
}): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', here], {
    env: {
      ...process.env,
      GATEWAY_BENCH_CHILD: '1',
      BENCH_UPSTREAM_URL: env.upstreamUrl,
      BENCH_ISSUER: env.issuer,
      BENCH_JWKS_URI: env.jwksUri,
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let startTimer: NodeJS.Timeout | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    onLines(child.stdout!, (line) => {
      out += `${line}\n`;
      if (line.startsWith('url ')) resolve(line.slice('url '.length).trim());
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      reject(new Error(`gateway bench child exited with ${code} before it listened: ${out}`)),
    );
    startTimer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway bench child did not listen within 60 s: ${out}`));
    }, 60_000);
  }).finally(() => clearTimeout(startTimer)); // or it would kill the child 60 s into the run
  return {
    url,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.on('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.stdin!.end();
      }),
  };
}

async function gatewayChild(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-bench-gateway-child-'));
  const log = await openEmbeddedLog({ dir: path.join(dir, 'log') });
  const ingress = await createIngress({
    config: {
      gateway: {
        resource: RESOURCE,
        issuer: process.env.BENCH_ISSUER!,
        jwksUri: process.env.BENCH_JWKS_URI!,
        allowedHosts: ['127.0.0.1'],
      },
      upstreams: { support: { url: process.env.BENCH_UPSTREAM_URL! } },
    },
    log,
    policy: await loadPolicy(POLICY, { source: 'bench' }),
    logger: pino({ level: 'warn' }, pino.destination(2)),
    instanceId: 'bench-own-process',
  });
  try {
    process.stdout.write(`url ${await ingress.listen(0, '127.0.0.1')}/mcp\n`);
    process.stdin.resume();
    await new Promise<void>((resolve) => process.stdin.once('end', resolve));
  } finally {
    await ingress.close();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export const run: Bench = async ({ quick, progress }): Promise<BenchResult> => {
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 250);
  const rounds = quick ? 2 : 3;
  const fixedCount = quick ? 400 : 2_000;
  const saturationMs = quick ? 2_000 : 5_000;
  const longCalls = quick ? 5_000 : 100_000;
  const concurrency = 8;

  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-bench-gateway-'));
  const upstream = await startUpstream();
  const issuer = await startIssuer();
  const embeddedLog = await openEmbeddedLog({ dir: path.join(dir, 'log') });
  const memoryLog = createMemoryLog();
  const ingresses: Ingress[] = [];
  const clients: Client[] = [];
  const leanClients: LeanMcpClient[] = [];
  let stopOwn: (() => Promise<void>) | undefined;
  try {
    const policy = await loadPolicy(POLICY, { source: 'bench' });
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
    const appendMs: number[] = [];
    let recordAppends = false;
    const clocks = new Map<string, StageClock>();
    const embedded = await startGateway(
      timedLog(
        embeddedLog,
        appendMs,
        () => recordAppends,
        (t0, t1) => clocks.get('embedded')?.append(t0, t1),
      ),
      'bench-embedded',
    );
    const memory = await startGateway(
      timedLog(
        memoryLog,
        [],
        () => false,
        (t0, t1) => clocks.get('memory')?.append(t0, t1),
      ),
      'bench-memory',
    );
    progress('starting the gateway in a process of its own (embedded log)');
    const own = await startGatewayProcess({
      upstreamUrl: upstream.url,
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
    });
    stopOwn = own.stop;
    const auth = { authorization: `Bearer ${issuer.token}` };
    const session = async (url: string, headers: Record<string, string>): Promise<LeanMcpClient> => {
      const client = new LeanMcpClient(url, headers);
      leanClients.push(client);
      await client.initialize();
      return client;
    };
    const targets = await Promise.all(
      [
        { name: 'direct', url: upstream.url, headers: {}, tool: 'read_ticket' },
        { name: 'gateway (embedded log)', url: embedded.url, headers: auth, tool: 'support__read_ticket' },
        { name: 'gateway (memory log)', url: memory.url, headers: auth, tool: 'support__read_ticket' },
        {
          name: 'gateway (own process)',
          url: own.url,
          headers: auth,
          tool: 'support__read_ticket',
          pid: own.pid,
        },
      ].map(
        async (target: {
          name: string;
          url: string;
          headers: Record<string, string>;
          tool: string;
          pid?: number;
        }) => ({
          ...target,
          single: await session(target.url, target.headers),
          pool: await Promise.all(
            Array.from({ length: concurrency }, () => session(target.url, target.headers)),
          ),
          latencies: [] as number[],
          roundP50: [] as number[],
          errors: 0,
          calls: 0,
          wallMs: 0,
          cpuMs: 0,
          /** CPU of the gateway's own process during the saturation windows (own-process target only). */
          childCpuMs: 0,
          roundRates: [] as number[],
        }),
      ),
    );
    type Target = (typeof targets)[number];
    const [d, e, m, o] = targets as [Target, Target, Target, Target];
    /** Saturation of `target` over `pool`, adding the CPU of its own process when it has one. */
    const saturate = async (target: Target, pool: LeanMcpClient[]) => {
      const before = target.pid === undefined ? 0 : await cpuMsOfPid(target.pid);
      const sat = await saturation(pool, target.tool, saturationMs);
      const childCpuMs = target.pid === undefined ? 0 : (await cpuMsOfPid(target.pid)) - before;
      return { ...sat, childCpuMs };
    };
    for (const target of targets) {
      progress(`${target.name}: warm-up`);
      for (let i = 0; i < 300; i++) await target.single.callTool(target.tool, CALL.arguments);
      await saturation(target.pool, target.tool, 500);
    }

    // Interleaved rounds, the order rotated each round, so that load from other processes on the
    // shared machine falls on every target alike.
    const order = (round: number) => targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (let r = 0; r < rounds; r++) {
      for (const target of order(r)) {
        progress(`round ${r + 1}/${rounds}: ${target.name}: 200 calls/s × ${fixedCount}`);
        recordAppends = target.name === 'gateway (embedded log)';
        const fixed = await fixedRate(target.single, target.tool, 200, fixedCount);
        recordAppends = false;
        target.latencies.push(...fixed.latencies);
        target.roundP50.push(
          percentile(
            [...fixed.latencies].sort((a, b) => a - b),
            50,
          ),
        );
        target.errors += fixed.errors;
      }
      for (const target of order(r)) {
        progress(
          `round ${r + 1}/${rounds}: ${target.name}: saturation, ${concurrency} sessions × ${saturationMs / 1000} s`,
        );
        const sat = await saturate(target, target.pool);
        target.calls += sat.calls;
        target.wallMs += sat.wallMs;
        target.cpuMs += sat.cpuMs;
        target.childCpuMs += sat.childCpuMs;
        target.roundRates.push(sat.calls / (sat.wallMs / 1000));
      }
    }
    for (const target of targets) target.latencies.sort((a, b) => a - b);
    appendMs.sort((a, b) => a - b);
    // The stages, in runs of their own after the measured rounds: with subscribers, Node publishes
    // every HTTP request of this process to the diagnostics channels, which would cost the measured
    // paths unequally.
    for (const [name, target] of [
      ['embedded', e],
      ['memory', m],
    ] as const) {
      progress(`${target.name}: where the time goes, 200 calls/s × ${fixedCount / 2}`);
      const clock = new StageClock(target.url, upstream.url);
      clocks.set(name, clock);
      await fixedRate(target.single, target.tool, 200, fixedCount / 2);
      clock.close();
    }
    const stageMedians = new Map([...clocks].map(([name, clock]) => [name, clock.medians()]));
    const stages = (name: string) => {
      const timed = stageMedians.get(name)!;
      return `${timed.stages.map((ms) => round(ms, 2)).join(' / ')} (${timed.calls} calls)`;
    };

    // One call in flight on each of 8 sessions keeps a single process busy, but not a gateway in a
    // process of its own: its calls then mostly wait for the hops between processes. More sessions
    // until the calls/s stop rising: the direct path and the own-process gateway, side by side.
    const sweep: Array<{
      sessions: number;
      direct: number[];
      own: number[];
      ownCpuMs: number;
      ownCalls: number;
    }> = [];
    for (const sessions of quick ? [32] : [32, 64]) {
      const pools = {
        direct: await Promise.all(Array.from({ length: sessions }, () => session(d.url, d.headers))),
        own: await Promise.all(Array.from({ length: sessions }, () => session(o.url, o.headers))),
      };
      const level = { sessions, direct: [] as number[], own: [] as number[], ownCpuMs: 0, ownCalls: 0 };
      for (let r = 0; r < rounds; r++) {
        progress(
          `round ${r + 1}/${rounds}: saturation with ${sessions} sessions: direct, gateway (own process)`,
        );
        const direct = await saturate(d, pools.direct);
        level.direct.push(direct.calls / (direct.wallMs / 1000));
        const own = await saturate(o, pools.own);
        level.own.push(own.calls / (own.wallMs / 1000));
        level.ownCpuMs += own.childCpuMs;
        level.ownCalls += own.calls;
      }
      sweep.push(level);
    }

    progress('disk: fdatasync latency');
    const fsyncs = (await fsyncLatencies(dir, quick ? 200 : 1_000)).sort((a, b) => a - b);

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
      targets[1]!.pool.slice(0, 4).map(async (client) => {
        for (;;) {
          const index = issued++;
          if (index >= longCalls) return;
          await client.callTool('support__read_ticket', CALL.arguments);
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
    const plain = await connect(upstream.url);
    clients.push(plain.client);
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

    const p = (t: Target, q: number) => percentile(t.latencies, q);
    const rate = (t: Target) => t.calls / (t.wallMs / 1000);
    /** Whole-machine CPU per call of a path: this process, plus the gateway's own process if it has one. */
    const cpuPerCall = (t: Target) => (t.cpuMs + t.childCpuMs) / t.calls;
    // `added` only where a difference means something (latency, CPU), not for a rate.
    const row = (measure: string, pick: (t: Target) => number, digits = 2, added = true) => ({
      measure,
      direct: round(pick(d), digits),
      'gateway (embedded log)': round(pick(e), digits),
      'added (embedded)': added ? round(pick(e) - pick(d), digits) : '',
      'gateway (memory log)': round(pick(m), digits),
      'added (memory)': added ? round(pick(m) - pick(d), digits) : '',
      'gateway (own process)': round(pick(o), digits),
      'added (own process)': added ? round(pick(o) - pick(d), digits) : '',
    });
    const perRound = (values: number[], digits = 2) => values.map((v) => round(v, digits)).join(' / ');
    const ownCpuEmbedded = cpuPerCall(e) - cpuPerCall(d);
    const ownCpuMemory = cpuPerCall(m) - cpuPerCall(d);
    /** Measured directly: the CPU of the gateway's process over the calls it served. */
    const ownCpuProcess = o.childCpuMs / o.calls;
    const addedP50 = p(e, 50) - p(d, 50);
    const addedP99 = p(e, 99) - p(d, 99);
    const addedP50Own = p(o, 50) - p(d, 50);
    const addedP99Own = p(o, 99) - p(d, 99);
    const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
    const bestOwn = Math.max(rate(o), ...sweep.map((level) => mean(level.own)));
    const heapGrowth = heapEnd - heapStart;
    return {
      title: 'Gateway: added latency of an allowed tools/call (audit on)',
      rows: [
        row(`p50 at 200 calls/s, ${rounds} × ${fixedCount} calls (ms)`, (t) => p(t, 50)),
        row('p99 at 200 calls/s (ms)', (t) => p(t, 99)),
        {
          measure: 'p50 at 200 calls/s per round (ms)',
          direct: perRound(d.roundP50),
          'gateway (embedded log)': perRound(e.roundP50),
          'added (embedded)': perRound(e.roundP50.map((v, i) => v - d.roundP50[i]!)),
          'gateway (memory log)': perRound(m.roundP50),
          'added (memory)': perRound(m.roundP50.map((v, i) => v - d.roundP50[i]!)),
          'gateway (own process)': perRound(o.roundP50),
          'added (own process)': perRound(o.roundP50.map((v, i) => v - d.roundP50[i]!)),
        },
        row(
          `calls/s at saturation (${concurrency} sessions, ${rounds} × ${saturationMs / 1000} s)`,
          rate,
          0,
          false,
        ),
        {
          measure: 'calls/s at saturation per round',
          direct: perRound(d.roundRates, 0),
          'gateway (embedded log)': perRound(e.roundRates, 0),
          'gateway (memory log)': perRound(m.roundRates, 0),
          'gateway (own process)': perRound(o.roundRates, 0),
        },
        ...sweep.map((level) => ({
          measure: `calls/s at saturation, ${level.sessions} sessions, per round`,
          direct: perRound(level.direct, 0),
          'gateway (own process)': `${perRound(level.own, 0)} (its process: ${round(level.ownCpuMs / level.ownCalls, 3)} ms CPU a call)`,
        })),
        row('CPU per call at saturation, whole process (ms)', cpuPerCall, 3),
        {
          measure:
            "gateway's own CPU per call (ms) → calls/s per core (in process: added CPU; own process: its process's CPU)",
          'added (embedded)': `${round(ownCpuEmbedded, 3)} → ${Math.round(1000 / ownCpuEmbedded)}`,
          'added (memory)': `${round(ownCpuMemory, 3)} → ${Math.round(1000 / ownCpuMemory)}`,
          'added (own process)': `${round(ownCpuProcess, 3)} → ${Math.round(1000 / ownCpuProcess)}`,
        },
        {
          measure: 'embedded log append during the 200 calls/s runs, p50 / p99 / max (ms)',
          'gateway (embedded log)': `${round(percentile(appendMs, 50))} / ${round(percentile(appendMs, 99))} / ${round(appendMs.at(-1) ?? NaN)}`,
        },
        {
          measure: `where a call's time goes at 200 calls/s, p50 (ms): ${STAGES.join(' / ')}`,
          'gateway (embedded log)': stages('embedded'),
          'gateway (memory log)': stages('memory'),
        },
        {
          measure: 'disk: 1 KiB write + fdatasync p50 / p99 (ms), measured apart',
          'gateway (embedded log)': `${round(percentile(fsyncs, 50))} / ${round(percentile(fsyncs, 99))}`,
        },
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
        `one process hosts the load generator (a lean keep-alive MCP client, the same for every path), the upstream and two gateways; a third gateway (embedded log, same config) runs in a process of its own, as in production; targets are measured in ${rounds} interleaved rounds`,
        `errors: ${targets.map((t) => `${t.name} ${t.errors}`).join(', ')}; upstream reconnects during the long run: ${reconnects}; upstream requests still open at the end: ${inFlightEnd}`,
        `heap growth over the long run: ${mib(heapGrowth)} MiB (${round(heapGrowth / longCalls, 1)} B/call) — flat if ≤ a few MiB`,
        `target p50 overhead ≤ 1 ms at 200 calls/s (embedded log): ${round(addedP50)} ms in this process — ${addedP50 <= 1 ? 'met' : 'not met'}; ${round(addedP50Own)} ms with the gateway in its own process — ${addedP50Own <= 1 ? 'met' : 'not met'}`,
        `target p99 overhead ≤ 5 ms at 200 calls/s (embedded log): ${round(addedP99)} ms in this process — ${addedP99 <= 5 ? 'met' : 'not met'}; ${round(addedP99Own)} ms in its own process — ${addedP99Own <= 5 ? 'met' : 'not met'} (the in-process log appends the calls waited for: p99 ${round(percentile(appendMs, 99))} ms; a bare fdatasync measured apart: p99 ${round(percentile(fsyncs, 99))} ms)`,
        `target ≥ 2,000 audited calls/s: ${Math.round(rate(e))}/s through the gateway in this process (load generator and upstream on the same 2 cores and the same thread; direct ${Math.round(rate(d))}/s) — ${rate(e) >= 2_000 ? 'met' : 'not met'}; the gateway's own CPU per call (${round(ownCpuEmbedded, 3)} ms) implies ${Math.round(1000 / ownCpuEmbedded)} calls/s per core. ` +
          `With the gateway in its own process: ${Math.round(bestOwn)}/s at best (${[`${concurrency} sessions ${Math.round(rate(o))}`, ...sweep.map((level) => `${level.sessions} sessions ${Math.round(mean(level.own))}`)].join(', ')}; mean of the rounds) — ${bestOwn >= 2_000 ? 'met' : 'not met'}`,
        "the plain SDK client shows the 1.32 leak (one abort listener per call until GC); the gateway's upstream transport (node:http, keep-alive) registers none",
        quick
          ? `quick mode: ${rounds} rounds of 400 calls at 200/s and 2 s saturation, 5k long run`
          : `full mode: ${rounds} rounds of 2,000 calls at 200/s and 5 s saturation, 100k long run`,
      ],
    };
  } finally {
    clearInterval(rssTimer);
    for (const client of leanClients) client.close();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    for (const ingress of ingresses) await ingress.close();
    await stopOwn?.();
    await embeddedLog.close();
    await memoryLog.close();
    await upstream.close();
    await issuer.close();
    await rm(dir, { recursive: true, force: true });
  }
};

runIfChild('GATEWAY_BENCH_CHILD', here, 'gateway bench child', gatewayChild);
