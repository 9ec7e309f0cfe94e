import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { GatehouseEvent } from '@gatehouse/events';
import { createMemoryLog, type MemoryEventLog } from '@gatehouse/eventlog';
import { pino, type Logger } from 'pino';
import { createIngress, type Ingress, type IngressConfigInput, type IngressPolicy } from '../../src/index.js';
import { demoPolicy } from './demo-policy.js';
import { startTestIssuer, type TestIssuer } from './test-issuer.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const SUPPORT_DESK_ENTRY = join(REPO_ROOT, 'examples/support-desk/src/server.ts');
export const EVERYTHING_BIN = join(REPO_ROOT, 'node_modules/.bin/mcp-server-everything');

/** Resource URI the test gateway claims (the audience of its tokens). */
export const RESOURCE = 'http://127.0.0.1/mcp';

/** A running gateway in front of the real support-desk (and optionally server-everything) over stdio. */
export interface GatewayFixture {
  ingress: Ingress;
  issuer: TestIssuer;
  log: MemoryEventLog;
  /** Base URL of the gateway (`http://127.0.0.1:<port>`). */
  base: string;
  /** Tool calls the support desk received, from its record file. */
  receivedCalls(): Promise<string[]>;
  /** POSTs `body` (a JSON-RPC message, or its text) to `/mcp` with `token` and a client's headers. */
  post(token: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Opens an MCP session with a bearer token. */
  connect(token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }>;
  /** Events of one session or stream, in log order. */
  eventsOf(stream: string): GatehouseEvent[];
  close(): Promise<void>;
}

export interface FixtureOptions {
  everything?: boolean;
  /** Default: a fresh memory log. */
  log?: MemoryEventLog;
  policy?: IngressPolicy;
  gateway?: Partial<IngressConfigInput['gateway']>;
  /** Default: silent. */
  logger?: Logger;
  /** The ingress's `runId` (named streams of this run alone). Default: none. */
  runId?: string;
}

export async function startGateway(options: FixtureOptions = {}): Promise<GatewayFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-ingress-'));
  const recordFile = join(dir, 'support-desk-calls.jsonl');
  const issuer = await startTestIssuer(RESOURCE);
  const log = options.log ?? createMemoryLog();
  const upstreams: IngressConfigInput['upstreams'] = {
    support: {
      command: process.execPath,
      args: ['--import', 'tsx', SUPPORT_DESK_ENTRY],
      env: { SUPPORT_DESK_RECORD: recordFile },
      cwd: REPO_ROOT,
    },
  };
  if (options.everything) upstreams.everything = { command: EVERYTHING_BIN, args: ['stdio'] };
  const ingress = await createIngress({
    config: {
      gateway: { resource: RESOURCE, issuer: issuer.issuer, allowedHosts: ['127.0.0.1'], ...options.gateway },
      upstreams,
    },
    log,
    policy: options.policy ?? (await demoPolicy()),
    logger: options.logger ?? pino({ level: 'silent' }),
    instanceId: 'test-node',
    verifier: { jwksCooldownMs: 0 },
    ...(options.runId === undefined ? {} : { runId: options.runId }),
  });
  const base = await ingress.listen(0, '127.0.0.1');
  const clients: Client[] = [];
  return {
    ingress,
    issuer,
    log,
    base,
    async receivedCalls() {
      if (!existsSync(recordFile)) return [];
      const text = await readFile(recordFile, 'utf8');
      return text
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => (JSON.parse(line) as { tool: string }).tool);
    },
    post: (token, body, headers = {}) =>
      fetch(`${base}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    async connect(token) {
      const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      });
      const client = new Client({ name: 'test-agent', version: '1.2.3' });
      await client.connect(transport);
      clients.push(client);
      return { client, transport };
    },
    eventsOf: (stream) => log.events().filter((e) => e.session_id === stream),
    async close() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await ingress.close();
      await issuer.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
