import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { GatehouseEvent } from '@gatehouse/events';
import type { ToolCounts } from '@gatehouse/store';
import { badRequest } from '../errors.js';
import { csvHeader, csvLine, EXPORT_FORMATS, negotiateFormat, type ExportFormat } from '../export-format.js';
import type { QueryContext } from '../query-context.js';
import { resolveWindow } from '../time-window.js';
import { agentParam, cursor, dateTime, limit } from './schemas.js';

interface ActivityQuery {
  from?: string;
  to?: string;
  when?: string;
  tz: string;
  limit: number;
  cursor?: string;
  format?: ExportFormat;
}

/** The JSON answer of `GET /v1/agents/{agent}/activity`. */
export interface ActivityAnswer {
  agent: string;
  /** The resolved UTC window `[from, to)`; `when`/`tz` echo the words it was resolved from. */
  window: { from: string; to: string; when?: string; tz?: string };
  /** Per-tool counts over the whole window (not just this page). */
  tools: ToolCounts[];
  /** Call events of this page, oldest first. */
  events: GatehouseEvent[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  next_cursor?: string;
}

const EXPORT_PAGE = 5_000;

/**
 * `GET /v1/agents/{agent}/activity?from=&to=` or `?when=last%20tuesday&tz=Europe/Berlin`: the
 * agent's calls in a window, with per-tool counts. JSON pages by default; `?format=ndjson|csv` (or
 * `Accept: application/x-ndjson` / `text/csv`) streams every event of the window instead.
 */
export function activityRoute(app: FastifyInstance, ctx: QueryContext): void {
  app.get<{ Params: { agent: string }; Querystring: ActivityQuery }>(
    '/agents/:agent/activity',
    {
      schema: {
        summary: "An agent's calls in a time window",
        tags: ['activity'],
        params: agentParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { ...dateTime, description: 'Window start (inclusive), ISO 8601' },
            to: { ...dateTime, description: 'Window end (exclusive), ISO 8601' },
            when: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'Words: "last tuesday", "yesterday 14:00-16:00", "past 2 hours", "today"',
            },
            tz: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
              default: 'UTC',
              description: 'IANA time zone `when` is read in (default UTC)',
            },
            limit: limit(10_000, 1_000),
            cursor,
            format: {
              type: 'string',
              enum: [...EXPORT_FORMATS],
              description: 'json (paged), ndjson or csv (streamed, whole window)',
            },
          },
        },
      },
    },
    async (request, reply) => {
      const { agent } = request.params;
      const q = request.query;
      let window: ActivityAnswer['window'];
      let from: Date;
      let to: Date;
      if (q.when !== undefined) {
        if (q.from !== undefined || q.to !== undefined)
          throw badRequest('querystring/when', 'cannot be combined with from/to');
        const resolved = resolveWindow(q.when, q.tz, ctx.clock());
        ({ from, to } = resolved);
        window = { from: from.toISOString(), to: to.toISOString(), when: q.when, tz: q.tz };
      } else {
        if (q.from === undefined) throw badRequest('querystring/from', 'is required (or give when)');
        if (q.to === undefined) throw badRequest('querystring/to', 'is required (or give when)');
        from = new Date(q.from);
        to = new Date(q.to);
        if (to.getTime() <= from.getTime()) throw badRequest('querystring/to', 'must be after from');
        window = { from: from.toISOString(), to: to.toISOString() };
      }
      const format = negotiateFormat(q.format, request.headers.accept);
      if (format === 'json') {
        const page = await ctx.store.activity({
          agent,
          from,
          to,
          limit: q.limit,
          ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        });
        const answer: ActivityAnswer = { agent, window, tools: page.tools, events: page.items };
        if (page.nextCursor !== undefined) answer.next_cursor = page.nextCursor;
        return answer;
      }
      // Fetch the first page before answering, so a store failure is still a proper error status.
      const first = await ctx.store.activity({
        agent,
        from,
        to,
        limit: EXPORT_PAGE,
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
      });
      const store = ctx.store;
      async function* lines(): AsyncGenerator<string> {
        if (format === 'csv') yield csvHeader();
        let page = first;
        for (;;) {
          for (const event of page.items)
            yield format === 'csv' ? csvLine(event) : `${JSON.stringify(event)}\n`;
          if (page.nextCursor === undefined) return;
          page = await store.activity({ agent, from, to, limit: EXPORT_PAGE, cursor: page.nextCursor });
        }
      }
      reply.header('x-gatehouse-window', `${window.from}/${window.to}`);
      reply.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
      return reply.send(Readable.from(lines()));
    },
  );
}
