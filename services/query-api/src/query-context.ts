import type { KeyObject } from 'node:crypto';
import type { EventOf } from '@gatehouse/events';
import type { AuditStore } from '@gatehouse/store';
import type { DecidingPolicy } from './evaluate.js';
import type { PublishedHistory } from './published-history.js';

/** Turns a published policy into one that decides (e.g. `policyFromPublished` of `@gatehouse/policy`). */
export type PolicyCompiler = (
  published: EventOf<'policy.published'>['data'],
) => DecidingPolicy | Promise<DecidingPolicy>;

/** What every route reads: built once by `createQueryApi`. */
export interface QueryContext {
  readonly store: AuditStore;
  /** Policies and catalogs as published, for "in force at T" and policies by version. */
  readonly history: PublishedHistory;
  /** The policy the gateway enforces now (`what-if?policy=current`). */
  currentPolicy(): DecidingPolicy;
  /** Compiled policies by version, cached. */
  policyOf(published: EventOf<'policy.published'>): Promise<DecidingPolicy>;
  /** Public checkpoint keys by kid. */
  readonly checkpointKeys: ReadonlyMap<string, KeyObject>;
  readonly clock: () => Date;
  /** Whether an agent may act for itself (the gateway's `selfActingAgents`), for what-if. */
  readonly selfActing: (agent: string) => boolean;
}
