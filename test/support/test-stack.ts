import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createChdbConnection } from 'chdb/connection';
import { pino } from 'pino';
import { issueDevToken } from '../../packages/cli/src/commands/token.js';
import { loadConfig, type GatehouseConfig } from '../../packages/cli/src/config.js';
import { readSettings, type Settings } from '../../packages/cli/src/settings.js';
import { startStack, type Stack } from '../../packages/cli/src/stack.js';

export const EXAMPLE_CONFIG = path.resolve(import.meta.dirname, '../../examples/support-desk/gatehouse.yaml');

/** Free TCP ports on 127.0.0.1 (bound, read, released — the usual small race is acceptable in tests). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((resolve) => {
          const server = createServer();
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface TestStack {
  stack: Stack;
  config: GatehouseConfig;
  settings: Settings;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * The example configuration on free ports in `dataDir`: the issuer, the resources and the
 * authserver follow the ports, the stdio upstream runs from the repository root, everything else is
 * the demo as shipped.
 */
export async function exampleOnFreePorts(
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{
  settings: Settings;
  config: GatehouseConfig;
  ports: { ingress: number; query: number; auth: number };
}> {
  const [ingress, query, auth] = (await freePorts(3)) as [number, number, number];
  const settings = readSettings({
    ...env,
    GATEHOUSE_CONFIG: EXAMPLE_CONFIG,
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_INGRESS_PORT: String(ingress),
    GATEHOUSE_QUERY_PORT: String(query),
    GATEHOUSE_AUTH_PORT: String(auth),
  });
  const config = await loadConfig(EXAMPLE_CONFIG);
  config.gateway.resource = `http://localhost:${ingress}/mcp`;
  config.gateway.issuer = `http://localhost:${auth}`;
  config.query.resource = `http://localhost:${query}`;
  if (config.authserver) config.authserver.issuer = `http://localhost:${auth}`;
  const upstream = config.upstreams.support as { command?: string; args?: string[]; cwd?: string };
  if (upstream.args)
    upstream.args = upstream.args.map((a) =>
      a.startsWith('examples/') ? path.resolve(import.meta.dirname, '../..', a) : a,
    );
  return { settings, config, ports: { ingress, query, auth } };
}

/**
 * The example configuration on free ports and a temp data dir (`exampleOnFreePorts`), started.
 * `edit` may change the config (policy, upstream env) before start.
 */
export async function startTestStack(
  options: { edit?: (config: GatehouseConfig) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<TestStack> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-e2e-'));
  const { settings, config } = await exampleOnFreePorts(dataDir, options.env);
  options.edit?.(config);
  const stack = await startStack({
    settings,
    config,
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
  });
  return {
    stack,
    config,
    settings,
    dataDir,
    stop: async () => {
      await stack.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Follows an authorization URL through the development login (login_hint) with a cookie jar and
 * returns the redirect to `redirectUri` (carrying `code`).
 */
export async function followAuthorization(start: URL, redirectUri: string): Promise<URL> {
  const cookies = new Map<string, string>();
  let url = start;
  for (let hop = 0; hop < 12; hop += 1) {
    const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    const location = response.headers.get('location');
    await response.body?.cancel();
    if (response.status < 300 || response.status >= 400 || location === null) {
      throw new Error(`authorization stopped at HTTP ${response.status} on ${url.href}`);
    }
    const next = new URL(location, url);
    if (next.href.startsWith(redirectUri)) return next;
    url = next;
  }
  throw new Error(`authorization did not finish: ${url.href}`);
}

/** An SDK client connected to the gateway of a test stack, as one agent (optionally acting for a user). */
export interface ConnectedAgent {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** The MCP session id the gateway assigned (the `session_id` of its events). */
  sessionId: string;
  /** Ends the MCP session (DELETE, so the gateway records `session.ended`) and closes the client. */
  close(): Promise<void>;
}

/**
 * Gets a token from the stack's development authserver (`agent` acting for `user`, or client
 * credentials) and connects the official SDK client over Streamable HTTP.
 */
export async function connectAgent(t: TestStack, agent: string, user?: string): Promise<ConnectedAgent> {
  const { accessToken } = await issueDevToken(t.config, agent, user);
  const transport = new StreamableHTTPClientTransport(new URL(t.stack.urls.mcp), {
    requestInit: { headers: { Authorization: `Bearer ${accessToken}` } },
  });
  const client = new Client({ name: `${agent}-e2e`, version: '1.0.0' });
  await client.connect(transport);
  const sessionId = transport.sessionId;
  if (sessionId === undefined) throw new TypeError('the gateway assigned no MCP session id');
  return {
    client,
    transport,
    sessionId,
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

/**
 * A raw `@clickhouse/client` over the chDB data dir of a stack, for SQL the store does not offer
 * (physical row counts, `FINAL` against no `FINAL`). chDB binds one data dir per process: use it
 * only in the process that runs that stack (or after every other holder exited).
 */
export function rawClickHouse(dataDir: string): ClickHouseClient {
  const connection = createChdbConnection({ path: path.join(dataDir, 'clickhouse') });
  return createClient({
    connection: connection as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'],
    clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
  });
}

/** Runs `sql` and returns its rows (JSONEachRow). */
export async function sqlRows<T>(client: ClickHouseClient, sql: string): Promise<T[]> {
  return (await client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
}
