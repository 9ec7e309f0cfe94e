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
function callerKey(principal: { agent: string; user: string }): string {
  return `${principal.agent.length}:${principal.agent}|${principal.user}`;
}

/** How many sessions may be open at once: in all, and per caller (an agent acting for a user). */
export interface SessionLimits {
  maxSessions: number;
  maxSessionsPerCaller: number;
}

/**
 * A place for a session being opened, taken before its `session.started` is written: `add` hands
 * it to the session, `release` gives it back if the session never comes to be.
 */
export interface SessionSlot {
  readonly caller: string;
  held: boolean;
}

/**
 * Live sessions of this ingress node. Ending a session (DELETE, transport close, idle timeout,
 * shutdown) records `session.ended` once, then forgets the session's chain head.
 */
export class SessionRegistry {
  readonly #sessions = new Map<string, GatewaySession>();
  /** Slots taken (live sessions and sessions being opened), per caller and in all. */
  readonly #slotsOf = new Map<string, number>();
  #slots = 0;
  readonly limits: SessionLimits;
  readonly #recorder: AuditRecorder;
  readonly #logger: Logger;
  readonly #sweeper: NodeJS.Timeout;

  constructor(recorder: AuditRecorder, logger: Logger, idleTimeoutMs: number, limits: SessionLimits) {
    this.#recorder = recorder;
    this.#logger = logger;
    this.limits = limits;
    const every = Math.max(1_000, Math.min(60_000, Math.floor(idleTimeoutMs / 2)));
    this.#sweeper = setInterval(() => this.#sweep(idleTimeoutMs), every).unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Takes a slot for a new session of `principal`, counted from now on so that initializes that
   * arrive together cannot all pass the limits while they await; which limit is reached otherwise.
   */
  reserve(principal: { agent: string; user: string }): SessionSlot | 'sessions' | 'caller' {
    const caller = callerKey(principal);
    if (this.#slots >= this.limits.maxSessions) return 'sessions';
    if ((this.#slotsOf.get(caller) ?? 0) >= this.limits.maxSessionsPerCaller) return 'caller';
    this.#count(caller, 1);
    return { caller, held: true };
  }

  /** Gives back a slot no session took (a no-op once `add` took it). */
  release(slot: SessionSlot): void {
    if (!slot.held) return;
    slot.held = false;
    this.#count(slot.caller, -1);
  }

  /** Adds `session` in the slot reserved for it; `end` gives the slot back. */
  add(session: GatewaySession, slot: SessionSlot): void {
    slot.held = false;
    this.#sessions.set(session.id, session);
  }

  #count(caller: string, delta: number): void {
    this.#slots += delta;
    const left = (this.#slotsOf.get(caller) ?? 0) + delta;
    if (left > 0) this.#slotsOf.set(caller, left);
    else this.#slotsOf.delete(caller);
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
    if (this.#sessions.delete(session.id)) this.#count(callerKey(session.principal), -1);
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
