import { GATEWAY_REFUSAL_RULES, type Decision, type EventOf, type GatehouseEvent } from '@gatehouse/events';

/** What the query API needs of a policy: `Policy` from `@gatehouse/policy` satisfies it. */
export interface DecidingPolicy {
  /** Content hash of the policy (`policy.published` `data.version`). */
  readonly version: string;
  /** The decision for `agent` acting for `user` (null: no separate user) calling the namespaced `tool`. */
  decide(agent: string, user: string | null, tool: string): Decision;
}

/** One tool in a capability listing. */
export interface ToolCapability {
  name: string;
  allowed: boolean;
  rule: string;
}

/** `<server>__<tool>`: the name agents see through the gateway. Already-namespaced names are kept. */
export function namespacedToolName(server: string, tool: string): string {
  return tool.startsWith(`${server}__`) ? tool : `${server}__${tool}`;
}

/**
 * Evaluates `policy` for every tool of the given catalogs, sorted by name. Pure.
 * A catalog event's `server` names the upstream; its tools are namespaced with it.
 */
export function evaluateCapabilities(
  policy: DecidingPolicy,
  catalogs: readonly EventOf<'catalog.published'>[],
  agent: string,
  user: string | null,
): ToolCapability[] {
  const names = new Set<string>();
  for (const catalog of catalogs) {
    const server = catalog.server ?? catalog.session_id.replace(/^catalog:/, '');
    for (const tool of catalog.data.tools) names.add(namespacedToolName(server, tool.name));
  }
  return [...names].sort().map((name) => {
    const decision = policy.decide(agent, user, name);
    return { name, allowed: decision.allowed, rule: decision.rule };
  });
}

/** A recorded decision that another policy would decide differently. */
export interface DecisionChange {
  seq: number;
  id: string;
  ts: string;
  tool: string;
  recorded: { allowed: boolean; rule: string; policy_version: string };
  would: { allowed: boolean; rule: string };
}

export interface WhatIfResult {
  /** Calls whose allow/deny outcome would differ, in seq order. */
  changes: DecisionChange[];
  /** Calls whose outcome would stay the same. */
  unchanged: number;
}

/** Deciding rules of calls the gateway refused on its own, not by policy. */
const GATEWAY_REFUSALS: ReadonlySet<string> = new Set(Object.values(GATEWAY_REFUSAL_RULES));

/**
 * Re-decides every tools/call of a session (its `call.attempted`, or its `call.denied` when the
 * call was refused outright) under `policy` and lists the calls whose outcome
 * (allowed or not) would change. A different deciding rule with the same outcome is not a change.
 * Pure. The user is passed as null when it equals the agent and `selfActing` says that agent may
 * act for itself (a client-credentials token), as the ingress does (`gateway.selfActingAgents`).
 */
export function whatIf(
  policy: DecidingPolicy,
  sessionEvents: readonly GatehouseEvent[],
  selfActing: (agent: string) => boolean = () => true,
): WhatIfResult {
  const tally = new WhatIfTally(policy, selfActing);
  tally.add(sessionEvents);
  return tally.result();
}

/**
 * `whatIf` over a session given a page at a time, in seq order: what it keeps between pages is the
 * changes found and the requests still open, not the events.
 */
export class WhatIfTally {
  readonly #changes: DecisionChange[] = [];
  #unchanged = 0;
  // A denied call is recorded as `call.denied` alone; an allowed one as `call.attempted` (then its
  // outcome). A `call.denied` of a request whose `call.attempted` is still open (no outcome yet) is
  // that same call. Request ids are the caller's and may be reused once a call has ended, so an
  // ended attempt never hides a later refusal under the same id.
  readonly #open = new Set<string>();

  readonly #policy: DecidingPolicy;
  readonly #selfActing: (agent: string) => boolean;

  constructor(policy: DecidingPolicy, selfActing: (agent: string) => boolean = () => true) {
    this.#policy = policy;
    this.#selfActing = selfActing;
  }

  add(sessionEvents: readonly GatehouseEvent[]): void {
    const open = this.#open;
    for (const event of sessionEvents) {
      if (event.request_id !== null && (event.type === 'call.completed' || event.type === 'call.failed'))
        open.delete(event.request_id);
      if (event.decision === null || event.tool === null) continue;
      if (event.type === 'call.attempted') {
        if (event.request_id !== null) open.add(event.request_id);
      } else if (event.type !== 'call.denied' || (event.request_id !== null && open.has(event.request_id))) {
        continue;
      }
      if (GATEWAY_REFUSALS.has(event.decision.rule)) {
        // Refused by the gateway before any policy was asked (no such tool in the catalog, arguments
        // it could not audit): another policy would not change that.
        this.#unchanged += 1;
        continue;
      }
      const agent = event.agent ?? '';
      // As the ingress decided it: a user equal to the agent is the agent acting for itself only for
      // the agents allowed to (`gateway.selfActingAgents`).
      const user =
        event.user === null || (event.user === event.agent && this.#selfActing(agent)) ? null : event.user;
      const would = this.#policy.decide(agent, user, event.tool);
      if (would.allowed === event.decision.allowed) {
        this.#unchanged += 1;
        continue;
      }
      this.#changes.push({
        seq: event.seq,
        id: event.id,
        ts: event.ts,
        tool: event.tool,
        recorded: {
          allowed: event.decision.allowed,
          rule: event.decision.rule,
          policy_version: event.decision.policy_version,
        },
        would: { allowed: would.allowed, rule: would.rule },
      });
    }
  }

  result(): WhatIfResult {
    return { changes: [...this.#changes], unchanged: this.#unchanged };
  }
}
