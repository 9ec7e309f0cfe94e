import type { FastifyInstance } from 'fastify';
import { evaluateCapabilities, type ToolCapability } from '../evaluate.js';
import { QueryApiError } from '../errors.js';
import type { QueryContext } from '../query-context.js';
import { agentParam, dateTime } from './schemas.js';

interface CapabilitiesQuery {
  user?: string;
  at?: string;
}

/** The answer of `GET /v1/agents/{agent}/capabilities`. */
export interface CapabilitiesAnswer {
  agent: string;
  user: string | null;
  /** The instant asked about (ISO 8601 UTC). */
  at: string;
  policy_version: string;
  tools: ToolCapability[];
}

/**
 * `GET /v1/agents/{agent}/capabilities?user=&at=`: what the agent (acting for `user`) could call at
 * `at` (default now), decided by the policy and the tool catalogs in force at that instant. The
 * answer for a past instant never changes once the events of that time are projected.
 */
export function capabilitiesRoute(app: FastifyInstance, ctx: QueryContext): void {
  app.get<{ Params: { agent: string }; Querystring: CapabilitiesQuery }>(
    '/agents/:agent/capabilities',
    {
      schema: {
        summary: 'What an agent could call at a point in time',
        tags: ['capabilities'],
        params: agentParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            user: {
              type: 'string',
              minLength: 1,
              maxLength: 256,
              description: 'User (token sub) the agent acts for; omitted: the agent alone',
            },
            at: { ...dateTime, description: 'Instant to evaluate at (ISO 8601); default now' },
          },
        },
      },
    },
    async (request): Promise<CapabilitiesAnswer> => {
      const { agent } = request.params;
      const at = request.query.at === undefined ? ctx.clock() : new Date(request.query.at);
      const published = await ctx.history.policyAt(at);
      if (published === undefined) {
        throw new QueryApiError(
          'GH_ERR_QUERY_NOT_FOUND',
          `no policy had been published at ${at.toISOString()} (querystring/at)`,
        );
      }
      const [policy, catalogs] = await Promise.all([ctx.policyOf(published), ctx.history.catalogsAt(at)]);
      const user = request.query.user ?? null;
      return {
        agent,
        user,
        at: at.toISOString(),
        policy_version: published.data.version,
        tools: evaluateCapabilities(policy, catalogs, agent, user),
      };
    },
  );
}
