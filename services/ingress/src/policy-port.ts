import type { Decision, EventOf } from '@gatehouse/events';

/**
 * What the ingress needs from a loaded policy (`@gatehouse/policy`'s `Policy` satisfies it).
 * `decide` is on the hot path: synchronous and cheap (a compiled decision table, not Casbin).
 */
export interface IngressPolicy {
  /** Content hash of the policy; every decision names it. */
  readonly version: string;
  /** The decision for `agent` acting for `user` (null: the agent acts for itself) on a namespaced tool. */
  decide(agent: string, user: string | null, tool: string): Decision;
  /** The subset of `tools` (namespaced names) this caller may call, in the given order. */
  visibleTools(agent: string, user: string | null, tools: readonly string[]): string[];
  /** The payload of the `policy.published` event for this policy. */
  publishedData(): EventOf<'policy.published'>['data'];
}
