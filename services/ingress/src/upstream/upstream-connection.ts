import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CallToolResultSchema,
  ErrorCode,
  McpError,
  ProgressNotificationSchema,
  type CallToolResult,
  type Progress,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from 'pino';
import type { UpstreamConfig } from '../config.js';
import { IngressError } from '../errors.js';
import { NodeHttpClientTransport, UpstreamHttpError } from './node-http-client-transport.js';

/** Per-call options for {@link UpstreamConnection.callTool}. */
export interface UpstreamCallOptions {
  /** Aborting it cancels the upstream request (the SDK sends `notifications/cancelled`). */
  signal?: AbortSignal;
  /** Receives the upstream's progress notifications; progress also resets the timeout. */
  onprogress?: (progress: Progress) => void;
}

/** Largest setTimeout delay; the SDK's own request timeout is disabled in favour of ours. */
const MAX_TIMER_MS = 2_147_483_647;

/** How a call through {@link UpstreamConnection.callTool} failed, when it did not return a result. */
export type UpstreamFailure = 'timeout' | 'cancelled' | 'transport' | 'upstream_error';

/** Classifies an error thrown by {@link UpstreamConnection.callTool}. */
export function classifyUpstreamError(error: unknown, signal?: AbortSignal): UpstreamFailure {
  if (signal?.aborted) return 'cancelled';
  if (error instanceof McpError) {
    if (error.code === ErrorCode.RequestTimeout) return 'timeout';
    if (error.code === ErrorCode.ConnectionClosed) return 'transport';
    return 'upstream_error';
  }
  return 'transport';
}

/**
 * Whether a failed call means the connection itself is gone — the transport closed or broke, or the
 * upstream lost its session — rather than the upstream refusing this one request (an HTTP 4xx/5xx
 * answer to it). Only the first drops the connection that every session's calls share.
 */
export function isConnectionLoss(error: unknown): boolean {
  if (error instanceof UpstreamHttpError) return error.sessionLost;
  if (error instanceof McpError) return error.code === ErrorCode.ConnectionClosed;
  return true;
}

/** What an audit outcome says of a failed call: the upstream's HTTP status where it answered with one. */
export function upstreamFailureReason(error: unknown, kind: UpstreamFailure): string {
  return error instanceof UpstreamHttpError ? `${kind}: upstream HTTP ${error.httpStatus}` : kind;
}

export interface UpstreamConnectionOptions {
  logger: Logger;
}

/**
 * One long-lived MCP client connection to an upstream, shared by every gateway session. Connects
 * lazily, and again after the connection dropped (process exit, session lost, transport error);
 * a call is never retried automatically (tools may not be idempotent).
 *
 * Only the gateway's own credentials (`headers` from the config) are ever sent upstream: the
 * connection is created once, without any caller's token.
 */
export class UpstreamConnection {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly #logger: Logger;
  #client: Client | undefined;
  #connecting: Promise<Client> | undefined;
  #connects = 0;
  #closed = false;
  #progressSeq = 0;
  readonly #progress = new Map<string, (progress: Progress) => void>();

  constructor(name: string, config: UpstreamConfig, options: UpstreamConnectionOptions) {
    this.name = name;
    this.config = config;
    this.#logger = options.logger.child({ upstream: name });
  }

  /**
   * Connection health for `/healthz` and the bench: whether connected, how many times it
   * (re)connected, and HTTP requests still open (Streamable HTTP upstreams; 0 for stdio).
   */
  stats(): { connected: boolean; connects: number; inFlightHttpRequests: number } {
    const transport = this.#client?.transport;
    return {
      connected: this.#client !== undefined,
      connects: this.#connects,
      inFlightHttpRequests: transport instanceof NodeHttpClientTransport ? transport.inFlight : 0,
    };
  }

  /** The connected client, connecting first if needed (single-flight). */
  connect(): Promise<Client> {
    if (this.#closed)
      return Promise.reject(
        new IngressError('GH_ERR_INGRESS_CLOSED', `upstream ${this.name}: connection closed`),
      );
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Every tool the upstream offers (all pages of `tools/list`). */
  async listTools(): Promise<Tool[]> {
    const client = await this.connect();
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor }, {
        timeout: this.config.timeoutMs,
      });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return tools;
  }

  /**
   * Calls `tool` (the upstream's own name) with `args`. Resolves with the tool's result (which may
   * have `isError`); rejects with the SDK's error — see {@link classifyUpstreamError}. A lost
   * connection or upstream session drops the connection so the next call reconnects; an HTTP
   * refusal of this one request (413, 429, 500…) fails this call only ({@link isConnectionLoss}).
   */
  async callTool(
    tool: string,
    args: Record<string, unknown>,
    options: UpstreamCallOptions = {},
  ): Promise<CallToolResult> {
    const client = await this.connect();
    const timeoutMs = this.config.timeoutMs;
    // Our own timeout and progress routing (see #routeProgress): the SDK dispatches notifications a
    // microtask late, so a final progress notification that arrives with the result would be lost.
    const controller = new AbortController();
    const onTimeout = (): void =>
      controller.abort(new McpError(ErrorCode.RequestTimeout, 'upstream timed out'));
    let timer = setTimeout(onTimeout, timeoutMs);
    const onCallerAbort = (): void => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });
    let progressToken: string | undefined;
    if (options.onprogress) {
      const relay = options.onprogress;
      progressToken = `gatehouse-${(this.#progressSeq += 1)}`;
      this.#progress.set(progressToken, (progress) => {
        clearTimeout(timer);
        timer = setTimeout(onTimeout, timeoutMs);
        relay(progress);
      });
    }
    try {
      if (options.signal?.aborted) throw options.signal.reason;
      const params =
        progressToken === undefined
          ? { name: tool, arguments: args }
          : { name: tool, arguments: args, _meta: { progressToken } };
      return await client.request({ method: 'tools/call', params }, CallToolResultSchema, {
        signal: controller.signal,
        timeout: MAX_TIMER_MS,
      });
    } catch (error) {
      if (classifyUpstreamError(error, options.signal) === 'transport' && isConnectionLoss(error))
        this.#drop(client, error);
      throw error;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onCallerAbort);
      if (progressToken !== undefined) this.#progress.delete(progressToken);
    }
  }

  /** Closes the connection (stdio: ends the child process). Later calls reject. */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    await client?.close().catch(() => undefined);
  }

  async #open(): Promise<Client> {
    const client = new Client({ name: 'gatehouse', version: '0.1.0' }, { capabilities: {} });
    const transport = this.#transport();
    try {
      await client.connect(transport);
    } catch (cause) {
      await client.close().catch(() => undefined);
      throw new IngressError(
        'GH_ERR_INGRESS_UPSTREAM_UNAVAILABLE',
        `upstream ${this.name}: cannot connect (${(cause as Error).message})`,
        {
          status: 502,
          retryable: true,
          cause,
        },
      );
    }
    client.onclose = () => {
      if (this.#client === client) {
        this.#client = undefined;
        if (!this.#closed) this.#logger.warn('upstream connection closed; the next call reconnects');
      }
    };
    client.onerror = (error) => this.#logger.debug({ err: error }, 'upstream transport error');
    this.#routeProgress(transport);
    if (this.#closed) {
      await client.close().catch(() => undefined);
      throw new IngressError('GH_ERR_INGRESS_CLOSED', `upstream ${this.name}: connection closed`);
    }
    this.#connects += 1;
    this.#client = client;
    this.#logger.info(
      { server: client.getServerVersion()?.name, connects: this.#connects },
      'upstream connected',
    );
    return client;
  }

  #transport(): StdioClientTransport | NodeHttpClientTransport {
    const config = this.config;
    if (config.kind === 'http')
      return new NodeHttpClientTransport(new URL(config.url), {
        headers: config.headers,
        idleSocketTimeoutMs: config.idleTimeoutMs,
      });
    const transport = new StdioClientTransport({
      command: config.command,
      args: config.args,
      env: { ...stdioBaseEnvironment(), ...config.env },
      ...(config.cwd !== undefined ? { cwd: config.cwd } : {}),
      stderr: 'pipe',
    });
    const stderr = transport.stderr;
    if (stderr) {
      createInterface({ input: stderr as Readable }).on('line', (line) =>
        this.#logger.info({ stderr: line.slice(0, 2_000) }, 'upstream stderr'),
      );
    }
    return transport;
  }

  /**
   * Delivers progress notifications for our own tokens synchronously, in message order, before the
   * SDK sees the response that follows them; others go to the SDK as usual.
   */
  #routeProgress(transport: Transport): void {
    const sdkOnMessage = transport.onmessage;
    transport.onmessage = (message, extra) => {
      if ('method' in message && message.method === 'notifications/progress' && !('id' in message)) {
        // Checked in full before anything reads it: a malformed notification from the upstream
        // (no params, params null, progress not a number) is dropped, never relayed or thrown on.
        const parsed = ProgressNotificationSchema.safeParse(message);
        if (!parsed.success) {
          this.#logger.warn(
            { issues: parsed.error.issues.length },
            'malformed progress notification from the upstream dropped',
          );
          return;
        }
        const { progressToken, ...progress } = parsed.data.params;
        const handler = typeof progressToken === 'string' ? this.#progress.get(progressToken) : undefined;
        if (handler) {
          handler(progress as Progress);
          return;
        }
      }
      sdkOnMessage?.(message, extra);
    };
  }

  #drop(client: Client, cause: unknown): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#logger.warn({ err: cause }, 'upstream call failed at the transport; reconnecting on the next call');
    void client.close().catch(() => undefined);
  }
}

/**
 * The environment a stdio upstream inherits: the SDK's minimal default (PATH, HOME, …) plus
 * NODE_OPTIONS-free Node settings. The gateway's own secrets (tokens, database URLs) are NOT passed.
 */
function stdioBaseEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[key];
    if (value !== undefined && !value.startsWith('()')) env[key] = value;
  }
  return env;
}
