import type { FastifyInstance } from 'fastify';
import type { EventOf, GatehouseEvent } from '@gatehouse/events';
import type { SessionSummary } from '@gatehouse/store';
import { badRequest, QueryApiError } from '../errors.js';
import { WhatIfTally, type DecisionChange } from '../evaluate.js';
import type { PublishedHistory } from '../published-history.js';
import type { QueryContext } from '../query-context.js';
import { storedSessionPages } from '../session-pages.js';
import { verifyStoredSession, type SessionVerification } from '../session-verification.js';
import { cursor, dateTime, limit, sessionParam } from './schemas.js';

/** The answer of `GET /v1/sessions`. */
export interface SessionsAnswer {
  sessions: SessionSummary[];
  next_cursor?: string;
}

/** The answer of `GET /v1/sessions/{id}/events`. */
export interface SessionEventsAnswer {
  session_id: string;
  /** In seq order. */
  events: GatehouseEvent[];
  /** Present when the page is full: ask again with `from_seq` = this for the rest. */
  next_from_seq?: number;
}

/** Events one `/events` answer holds unless `limit` says otherwise. */
export const SESSION_EVENTS_PAGE = 10_000;

/** The answer of `GET /v1/sessions/{id}/what-if`. */
export interface WhatIfAnswer {
  session_id: string;
  /** The policy the calls were re-decided under: `requested` as given (`current`, a version or its start), `version` in full. */
  policy: { requested: string; version: string };
  changes: DecisionChange[];
  unchanged: number;
}

export type { SessionVerification };

function notFound(id: string): QueryApiError {
  return new QueryApiError(
    'GH_ERR_QUERY_NOT_FOUND',
    `no events recorded for session ${JSON.stringify(id)} (params/id)`,
  );
}

/** Hex characters of a policy version `what-if?policy=` accepts at least: the short form answers show. */
const MIN_VERSION_PREFIX = 12;

/**
 * The published policy `what-if?policy=` names: a full version, or a prefix that starts exactly one
 * published version. None → 404 naming it; several → 400 naming them (at 12 hex characters this
 * takes some 16 million versions to happen by chance, but the answer is exact).
 */
async function publishedPolicyNamed(
  history: PublishedHistory,
  requested: string,
): Promise<EventOf<'policy.published'>> {
  const found = await history.policiesByVersionPrefix(requested);
  const [only] = found;
  if (only === undefined) {
    const what = requested.length === 64 ? 'with version' : 'whose version starts with';
    throw new QueryApiError(
      'GH_ERR_QUERY_NOT_FOUND',
      `no policy ${what} ${requested} was ever published (querystring/policy)`,
    );
  }
  if (found.length > 1) {
    throw badRequest(
      'querystring/policy',
      `${requested} starts more than one published policy version (${found.map((e) => e.data.version).join(', ')}); give more of it`,
    );
  }
  return only;
}

/** `/v1/sessions`, `/v1/sessions/{id}/events`, `/verify`, `/what-if`. */
export function sessionRoutes(app: FastifyInstance, ctx: QueryContext): void {
  app.get<{ Querystring: { agent?: string; from?: string; to?: string; limit: number; cursor?: string } }>(
    '/sessions',
    {
      schema: {
        summary: 'MCP sessions, newest first',
        tags: ['sessions'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            agent: { type: 'string', minLength: 1, maxLength: 256 },
            from: { ...dateTime, description: 'Sessions with an event at or after this instant' },
            to: { ...dateTime, description: 'Sessions with an event before this instant' },
            limit: limit(10_000, 100),
            cursor,
          },
        },
      },
    },
    async (request): Promise<SessionsAnswer> => {
      const q = request.query;
      if (q.from !== undefined && q.to !== undefined && Date.parse(q.to) <= Date.parse(q.from))
        throw badRequest('querystring/to', 'must be after from');
      const page = await ctx.store.listSessions({
        limit: q.limit,
        ...(q.agent === undefined ? {} : { agent: q.agent }),
        ...(q.from === undefined ? {} : { from: new Date(q.from) }),
        ...(q.to === undefined ? {} : { to: new Date(q.to) }),
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
      });
      return page.nextCursor === undefined
        ? { sessions: page.items }
        : { sessions: page.items, next_cursor: page.nextCursor };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { from_seq: number; limit?: number } }>(
    '/sessions/:id/events',
    {
      schema: {
        summary: "One session's events in seq order (replay)",
        tags: ['sessions'],
        params: sessionParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from_seq: {
              type: 'integer',
              minimum: 0,
              maximum: Number.MAX_SAFE_INTEGER,
              default: 0,
              description: 'Only events with seq ≥ this (for following a live session)',
            },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: 100_000,
              default: SESSION_EVENTS_PAGE,
              description: 'Page size; a page carries next_from_seq while the session goes on after it',
            },
          },
        },
      },
    },
    async (request): Promise<SessionEventsAnswer> => {
      const { id } = request.params;
      const { from_seq: fromSeq, limit } = request.query;
      const pageSize = limit ?? SESSION_EVENTS_PAGE;
      const events = await ctx.store.sessionEvents(id, { fromSeq, limit: pageSize });
      if (events.length === 0 && fromSeq === 0) throw notFound(id);
      const last = events.at(-1);
      if (last === undefined) return { session_id: id, events };
      // A short page is not always the end: the store reads the session index, then the events
      // table, and a row the index has and the table lacks (deleted) shortens the page. One more
      // read says whether the session goes on after it.
      const more =
        events.length === pageSize ||
        (await ctx.store.sessionEvents(id, { fromSeq: last.seq + 1, limit: 1 })).length > 0;
      return more ? { session_id: id, events, next_from_seq: last.seq + 1 } : { session_id: id, events };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/sessions/:id/verify',
    {
      schema: {
        summary: "Verify a session's hash chain as stored, anchored by the latest signed checkpoint",
        tags: ['sessions'],
        params: sessionParam,
      },
    },
    async (request): Promise<SessionVerification> => {
      const { id } = request.params;
      const verification = await verifyStoredSession(ctx.store, id, ctx.checkpointKeys);
      if (verification === undefined) throw notFound(id);
      return verification;
    },
  );

  app.get<{ Params: { id: string }; Querystring: { policy: string } }>(
    '/sessions/:id/what-if',
    {
      schema: {
        summary: "Re-decide a session's calls under another policy",
        tags: ['sessions'],
        params: sessionParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            policy: {
              type: 'string',
              pattern: `^(current|[0-9a-f]{${MIN_VERSION_PREFIX},64})$`,
              default: 'current',
              description: `\`current\`, a policy version (64 hex), or the start of one (${MIN_VERSION_PREFIX}–63 hex, as the answers show it) that no other published version shares`,
            },
          },
        },
      },
    },
    async (request): Promise<WhatIfAnswer> => {
      const { id } = request.params;
      const requested = request.query.policy;
      let policy;
      if (requested === 'current') {
        policy = ctx.currentPolicy();
      } else {
        policy = await ctx.policyOf(await publishedPolicyNamed(ctx.history, requested));
      }
      // A page at a time: what the tally keeps is the changes, not the session.
      const nextPage = storedSessionPages(ctx.store, id);
      const tally = new WhatIfTally(policy, ctx.selfActing);
      let page = await nextPage();
      if (page.length === 0) throw notFound(id);
      for (; page.length > 0; page = await nextPage()) tally.add(page);
      return { session_id: id, policy: { requested, version: policy.version }, ...tally.result() };
    },
  );
}
