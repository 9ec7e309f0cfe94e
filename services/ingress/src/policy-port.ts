import type { Policy } from '@gatehouse/policy';

/**
 * What the ingress needs from a loaded policy: `@gatehouse/policy`'s `Policy` (from `loadPolicy`)
 * satisfies it; tests and benches may pass a smaller double. `decide` is on the hot path:
 * synchronous and cheap (a compiled decision table, not Casbin).
 */
export type IngressPolicy = Pick<Policy, 'version' | 'decide' | 'visibleTools' | 'publishedData'>;
