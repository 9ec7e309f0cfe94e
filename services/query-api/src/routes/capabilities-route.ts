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
  /**
   * Whether that policy names the agent (`agent:<agent>`) and the user (`user:<user>`; null when no
   * user was asked about) at all, in a rule or a role assignment. Not named: only rules for `*`
   * apply to it, so every tool is likely denied by default — often a misspelt name.
   */
  in_policy: { agent: boolean; user: boolean | null };
}

/** Whether a line of a published policy (`p` rule or `g` role assignment) has `subject` as its subject or member. */
function policyNames(rules: readonly (readonly string[])[], subject: string): boolean {
  return rules.some(([kind, who]) => (kind === 'p' || kind === 'g') && who === subject);
}

/** The answer's schema: the OpenAPI document's, and the serializer's (a member left out here is not sent). */
const capabilitiesAnswerSchema = {
  type: 'object',
  required: ['agent', 'user', 'at', 'policy_version', 'tools', 'in_policy'],
  properties: {
    agent: { type: 'string' },
    user: { type: ['string', 'null'] },
    at: { ...dateTime, description: 'The instant asked about (UTC)' },
    policy_version: { type: 'string', description: 'Version (content hash) of the policy in force then' },
    tools: {
      type: 'array',
      description: 'Every tool of the catalogs in force then, by name',
      items: {
        type: 'object',
        required: ['name', 'allowed', 'rule'],
        properties: {
          name: { type: 'string', description: 'Namespaced tool name (`<server>__<tool>`)' },
          allowed: { type: 'boolean' },
          rule: { type: 'string', description: 'The deciding rule' },
        },
      },
    },
    in_policy: {
      type: 'object',
      required: ['agent', 'user'],
      description:
        'Whether the policy names the agent and the user at all (in a rule or a role assignment); not named, only rules for `*` apply to it — often a misspelt name',
      properties: {
        agent: { type: 'boolean' },
        user: { type: ['boolean', 'null'], description: 'null when no user was asked about' },
      },
    },
  },
} as const;

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
        response: { 200: capabilitiesAnswerSchema },
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
        in_policy: {
          agent: policyNames(published.data.rules, `agent:${agent}`),
          user: user === null ? null : policyNames(published.data.rules, `user:${user}`),
        },
      };
    },
  );
}
