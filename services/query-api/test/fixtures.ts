/**
 * Test fixtures for the query API: a real chDB store in a temp dir, a local JWKS that signs RFC 9068
 * access tokens, an in-memory event log, and a builder for sealed session events at chosen times.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import {
  ChainRegistry,
  createEvent,
  sha256Hex,
  type Decision,
  type EventOf,
  type GatehouseEvent,
} from '@gatehouse/events';
import { createMemoryLog, type MemoryEventLog } from '@gatehouse/eventlog';
import { openAuditStore, type AuditStore } from '@gatehouse/store';
import { catalogPublishedData, loadPolicy, policyFromPublished } from '@gatehouse/policy';
import type { DecidingPolicy } from '../src/index.js';

export const ISSUER = 'http://issuer.test';
export const AUDIENCE = 'http://localhost:7421';
export const GATEWAY_AUDIENCE = 'http://localhost:7420/mcp';

/** Mints access tokens signed by a key whose public half is `jwks`. */
export interface TokenMint {
  jwks: { keys: JWK[] };
  token(claims?: {
    scope?: string;
    aud?: string;
    sub?: string;
    client_id?: string;
    iss?: string;
    expSec?: number;
  }): Promise<string>;
}

export async function createTokenMint(): Promise<TokenMint> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  return {
    jwks: { keys: [jwk] },
    token: (claims = {}) =>
      new SignJWT({ scope: claims.scope ?? 'audit:read', client_id: claims.client_id ?? 'analyst' })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key', typ: 'at+jwt' })
        .setIssuer(claims.iss ?? ISSUER)
        .setAudience(claims.aud ?? AUDIENCE)
        .setSubject(claims.sub ?? 'analyst')
        .setIssuedAt()
        .setExpirationTime(`${claims.expSec ?? 300}s`)
        .sign(privateKey),
  };
}

/** A temp data dir with a chDB audit store in it. */
export interface StoreFixture {
  dir: string;
  store: AuditStore;
  cleanup(): Promise<void>;
}

export async function openStoreFixture(): Promise<StoreFixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-query-'));
  const store = await openAuditStore({ dataDir: dir, maxThreads: 1 });
  return {
    dir,
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let batch = 0;
/** Inserts events the way the projector does (one deduplicated batch). */
export async function project(store: AuditStore, events: readonly GatehouseEvent[]): Promise<void> {
  batch += 1;
  await store.insertEvents(events, `test/${process.pid}/${batch}`);
}

export type PolicyRules = [string, string, 'allow' | 'deny'][];

/** The `policy.published` payload of a policy built from rules and roles by the real policy package. */
export async function publishedPolicy(
  rules: PolicyRules,
  roles: [string, string][] = [],
): Promise<EventOf<'policy.published'>['data']> {
  return (await loadPolicy({ rules, roles }, { source: 'test' })).publishedData();
}

/** Compiles a published policy with the real policy package (what the query API does). */
export async function compile(data: EventOf<'policy.published'>['data']): Promise<DecidingPolicy> {
  return policyFromPublished(data);
}

/** Seals events on named chains at chosen instants. */
export class Timeline {
  readonly chains = new ChainRegistry();
  readonly sealed: GatehouseEvent[] = [];

  at<T extends Parameters<typeof createEvent>[0]>(
    iso: string,
    type: T,
    context: Parameters<typeof createEvent<T>>[1],
    data: Parameters<typeof createEvent<T>>[2],
    extra: Parameters<typeof createEvent<T>>[3] = {},
  ): GatehouseEvent {
    const event = this.chains.seal(createEvent(type, context, data, extra, Date.parse(iso)));
    this.sealed.push(event);
    return event;
  }

  policy(iso: string, data: EventOf<'policy.published'>['data']): GatehouseEvent {
    return this.at(iso, 'policy.published', { session_id: 'policy' }, data);
  }

  catalog(iso: string, server: string, tools: string[]): GatehouseEvent {
    return this.at(
      iso,
      'catalog.published',
      { session_id: `catalog:${server}` },
      catalogPublishedData(
        server,
        tools.map((name) => ({ name, inputSchema: { type: 'object' } })),
      ),
      { server },
    );
  }

  /**
   * One tools/call as the ingress records it: allowed → call.attempted then call.completed (1 ms
   * later); denied → call.denied alone (the upstream is never contacted).
   */
  call(
    iso: string,
    ctx: { session_id: string; agent: string; user: string },
    tool: string,
    decision: Decision,
  ): GatehouseEvent[] {
    const t = Date.parse(iso);
    const subject = {
      server: tool.split('__')[0]!,
      tool,
      request_id: String(t),
      args: {},
      args_sha256: sha256Hex('{}'),
    };
    if (!decision.allowed) {
      const outcome = {
        status: 'denied' as const,
        latency_ms: 0,
        result_sha256: null,
        result_bytes: null,
        error: decision.rule,
      };
      return [this.at(new Date(t).toISOString(), 'call.denied', ctx, {}, { ...subject, decision, outcome })];
    }
    const attempted = this.at(new Date(t).toISOString(), 'call.attempted', ctx, {}, { ...subject, decision });
    const outcome = decision.allowed
      ? { status: 'ok' as const, latency_ms: 3, result_sha256: sha256Hex('r'), result_bytes: 1, error: null }
      : {
          status: 'denied' as const,
          latency_ms: 0,
          result_sha256: null,
          result_bytes: null,
          error: decision.rule,
        };
    const done = this.at(
      new Date(t + 1).toISOString(),
      decision.allowed ? 'call.completed' : 'call.denied',
      ctx,
      {},
      { ...subject, decision, outcome },
    );
    return [attempted, done];
  }
}

export type { MemoryEventLog };
export { createMemoryLog };
