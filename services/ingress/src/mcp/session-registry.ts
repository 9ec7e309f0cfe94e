import { events } from '@gatehouse/events';
import type { Logger } from 'pino';
import type { AuditRecorder } from '../audit/audit-recorder.js';
import type { Principal } from '../perimeter/token-verifier.js';
import type { GatewayServer, SessionIdentity } from './gateway-server.js';
import type { NodeHttpServerTransport } from './node-http-server-transport.js';

/** Why a session ended, as recorded in `session.ended`. */
export type SessionEndReason =
  'client_deleted' | 'transport_closed' | 'idle_timeout' | 'gateway_shutdown' | 'initialize_failed';

/** One live MCP session: its caller, transport and server. */
export interface GatewaySession {
  readonly id: string;
  readonly principal: Principal;
  readonly identity: SessionIdentity;
  readonly transport: NodeHttpServerTransport;
  readonly server: GatewayServer;
  /** Last request, ms since the epoch. */
  lastSeenMs: number;
  ended: boolean;
}

/**
 * How long ending a session waits for its calls to record their outcomes before `session.ended`.
 * Longer than a durable Kafka append may take (`appendTimeoutMs`, default 10 s), so that an
 * outcome still waiting on the log during an outage is not overtaken by `session.ended`.
 */
const SETTLE_WAIT_MS = 15_000;

/** One caller: an agent acting for a user (lengths first, so that no two pairs give one key). */
export function callerKey(principal: { agent: string; user: string }): string {
  return `${principal.agent.length}:${principal.agent}|${principal.user}`;
}

/**
 * Live sessions of this ingress node. Ending a session (DELETE, transport close, idle timeout,
 * shutdown) records `session.ended` once, then forgets the session's chain head.
 */
export class SessionRegistry {
  readonly #sessions = new Map<string, GatewaySession>();
  /** Live sessions per caller (`callerKey`). */
  readonly #perCaller = new Map<string, number>();
  readonly #recorder: AuditRecorder;
  readonly #logger: Logger;
  readonly #sweeper: NodeJS.Timeout;

  constructor(recorder: AuditRecorder, logger: Logger, idleTimeoutMs: number) {
    this.#recorder = recorder;
    this.#logger = logger;
    const every = Math.max(1_000, Math.min(60_000, Math.floor(idleTimeoutMs / 2)));
    this.#sweeper = setInterval(() => this.#sweep(idleTimeoutMs), every).unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  add(session: GatewaySession): void {
    this.#sessions.set(session.id, session);
    const key = callerKey(session.principal);
    this.#perCaller.set(key, (this.#perCaller.get(key) ?? 0) + 1);
  }

  /** Live sessions of the caller `principal` (its agent acting for its user). */
  countOf(principal: { agent: string; user: string }): number {
    return this.#perCaller.get(callerKey(principal)) ?? 0;
  }

  get(id: string): GatewaySession | undefined {
    return this.#sessions.get(id);
  }

  /**
   * Ends a session once (idempotent): closes its transport, which cancels calls in flight (their
   * upstream requests too), waits for them to record their outcomes (at most `SETTLE_WAIT_MS`), then records
   * `session.ended` — the last event of the session's chain — and forgets the chain head.
   */
  async end(session: GatewaySession, reason: SessionEndReason): Promise<void> {
    if (session.ended) return;
    session.ended = true;
    if (this.#sessions.delete(session.id)) {
      const key = callerKey(session.principal);
      const left = (this.#perCaller.get(key) ?? 1) - 1;
      if (left > 0) this.#perCaller.set(key, left);
      else this.#perCaller.delete(key);
    }
    await session.transport
      .close()
      .catch((error: unknown) => this.#logger.debug({ err: error }, 'session transport close failed'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      session.server.settled(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, SETTLE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    await this.#recorder.appendOutcome(events.sessionEnded(session.identity.context, reason));
    await this.#recorder.forget(session.id);
  }

  /** Ends every session (shutdown). */
  async endAll(reason: SessionEndReason): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.all([...this.#sessions.values()].map((session) => this.end(session, reason)));
  }

  #sweep(idleTimeoutMs: number): void {
    const cutoff = Date.now() - idleTimeoutMs;
    for (const session of this.#sessions.values()) {
      if (session.lastSeenMs < cutoff) void this.end(session, 'idle_timeout');
    }
  }
}
