import { z } from 'zod';
import { DEFAULT_IDLE_SOCKET_TIMEOUT_MS } from './upstream/node-http-client-transport.js';
import { IngressError } from './errors.js';

/** JWS algorithms an access token may be signed with. `none` and the HMAC family are not offered. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

const scope = z
  .string()
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'expected an RFC 6749 scope token (no spaces or quotes)');

/**
 * The `gateway:` section of `gatehouse.yaml`: how the perimeter checks callers. Every field is
 * validated at start-up; defaults live here and nowhere else.
 */
export const gatewayConfigSchema = z.strictObject({
  /** Canonical resource URI of this gateway (RFC 8707): the audience every access token must carry. */
  resource: z.url(),
  /** Issuer (`iss`) of accepted access tokens; its metadata (RFC 8414 / OIDC discovery) names the JWKS. */
  issuer: z.url(),
  /** JWKS URL, to skip metadata discovery. Default: `jwks_uri` from the issuer's metadata. */
  jwksUri: z.url().optional(),
  /** Scopes a token needs to use /mcp at all. Default `[mcp:tools]`. */
  requiredScopes: z.array(scope).default(['mcp:tools']),
  /** Scopes advertised in the protected resource metadata. Default: `requiredScopes`. */
  scopesSupported: z.array(scope).optional(),
  /** Accepted JWS algorithms (asymmetric only). Default RS256, ES256, PS256, EdDSA. */
  algorithms: z.array(z.enum(ASYMMETRIC_ALGORITHMS)).min(1).default(['RS256', 'ES256', 'PS256', 'EdDSA']),
  /** Allowed clock skew for `exp`/`nbf`/`iat`, in seconds. Default 5, at most 300. */
  clockToleranceSec: z.number().int().min(0).max(300).default(5),
  /** Host header values accepted (DNS-rebinding protection): host names, or `host:port` to pin a port. */
  allowedHosts: z.array(z.string().min(1)).min(1).default(['localhost', '127.0.0.1']),
  /** Origin header values accepted when one is sent, besides the resource's own origin. Default none. */
  allowedOrigins: z.array(z.string().min(1)).default([]),
  /**
   * When the audit log refuses `call.attempted`: false (default) refuses the call; true forwards it
   * anyway and logs a warning per call. Only set this knowingly.
   */
  failOpen: z.boolean().default(false),
  /** Largest request body accepted, in bytes (413 above). Default 1 MiB. */
  bodyLimitBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** An MCP session idle this long (no request) is closed, in ms. Default 30 minutes. */
  sessionIdleTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(30 * 60_000),
  /** Most concurrent MCP sessions; `initialize` beyond it gets 503. Default 10,000. */
  maxSessions: z.number().int().positive().default(10_000),
  /**
   * Most concurrent sessions of one caller (one agent acting for one user); `initialize` beyond it
   * gets 429, so that one token cannot take every slot of `maxSessions`. Default 1,000.
   */
  maxSessionsPerCaller: z.number().int().positive().default(1_000),
  /**
   * Agents that may act for themselves: a token whose `sub` is its own client id (client
   * credentials) is decided on the agent's grants alone only for these. A token of any other agent
   * whose `sub` equals its client id is decided as anyone's, agent ∩ `user:<sub>`. Unset: every
   * agent may (a `sub` equal to the client id means client credentials). Set it when the identity
   * provider's users can have a subject equal to a client id, or a user named like a powerful agent
   * would get that agent's grants. The embedded stack sets it from the development authserver's
   * clients allowed `client_credentials`.
   */
  selfActingAgents: z.array(z.string().min(1)).optional(),
});
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;

const upstreamEntrySchema = z
  .strictObject({
    /** Optional and derived (`command` → stdio, `url` → http); accepted so parsing is idempotent. */
    kind: z.enum(['stdio', 'http']).optional(),
    /** stdio upstream: the command to spawn (resolved against `cwd`). */
    command: z.string().min(1).optional(),
    /** stdio upstream: its arguments. */
    args: z.array(z.string()).default([]),
    /** stdio upstream: extra environment variables (on top of a minimal safe default environment). */
    env: z.record(z.string(), z.string()).default({}),
    /** stdio upstream: working directory. Default: the gateway's. */
    cwd: z.string().optional(),
    /** Streamable HTTP upstream: its MCP endpoint URL. */
    url: z.url().optional(),
    /** Streamable HTTP upstream: static headers — the gateway's OWN credentials for this upstream. */
    headers: z.record(z.string(), z.string()).default({}),
    /** How long one upstream request may take, in ms (progress resets it). Default 60,000. */
    timeoutMs: z.number().int().positive().default(60_000),
    /**
     * Streamable HTTP upstream: how long an idle kept-alive connection to it stays open, in ms
     * (shortened to a second under a `Keep-Alive: timeout=N` it announces). Keep it below the
     * upstream's own keep-alive timeout. Default 4,000.
     */
    idleTimeoutMs: z.number().int().positive().optional(),
  })
  .superRefine((value, ctx) => {
    if ((value.command === undefined) === (value.url === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'set exactly one of `command` (stdio) or `url` (Streamable HTTP)',
      });
    }
    if (
      value.url !== undefined &&
      (value.args.length > 0 || Object.keys(value.env).length > 0 || value.cwd !== undefined)
    ) {
      ctx.addIssue({ code: 'custom', message: '`args`, `env` and `cwd` apply to stdio upstreams only' });
    }
    if (value.kind !== undefined && value.kind !== (value.url !== undefined ? 'http' : 'stdio')) {
      ctx.addIssue({ code: 'custom', path: ['kind'], message: '`kind` contradicts `command`/`url`' });
    }
    if (value.command !== undefined && Object.keys(value.headers).length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['headers'],
        message: '`headers` apply to Streamable HTTP upstreams only',
      });
    }
    if (value.command !== undefined && value.idleTimeoutMs !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['idleTimeoutMs'],
        message: '`idleTimeoutMs` applies to Streamable HTTP upstreams only',
      });
    }
  })
  .transform((value): UpstreamConfig =>
    value.url !== undefined
      ? {
          kind: 'http',
          url: value.url,
          headers: value.headers,
          timeoutMs: value.timeoutMs,
          idleTimeoutMs: value.idleTimeoutMs ?? DEFAULT_IDLE_SOCKET_TIMEOUT_MS,
        }
      : {
          kind: 'stdio',
          command: value.command ?? '',
          args: value.args,
          env: value.env,
          cwd: value.cwd,
          timeoutMs: value.timeoutMs,
        },
  );

/** A stdio upstream: a child process the gateway spawns and speaks MCP to over stdin/stdout. */
export interface StdioUpstreamConfig {
  kind: 'stdio';
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string | undefined;
  timeoutMs: number;
}
/** A Streamable HTTP upstream. */
export interface HttpUpstreamConfig {
  kind: 'http';
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Idle kept-alive connections to it close after this many ms (see `NodeHttpClientTransport`). */
  idleTimeoutMs: number;
}
export type UpstreamConfig = StdioUpstreamConfig | HttpUpstreamConfig;

/** Upstream server names: they prefix tool names (`<server>__<tool>`), so no `__` inside. */
export const UPSTREAM_NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/** The `upstreams:` section: name → stdio or Streamable HTTP upstream. At least one. */
export const upstreamsConfigSchema = z
  .record(
    z.string().regex(UPSTREAM_NAME, 'upstream names are 1–32 lowercase letters, digits or dashes'),
    upstreamEntrySchema,
  )
  .refine((value) => Object.keys(value).length > 0, 'declare at least one upstream');
export type UpstreamsConfig = z.infer<typeof upstreamsConfigSchema>;

/** The ingress's view of `gatehouse.yaml`: `gateway:` and `upstreams:`; other sections are ignored. */
export const ingressConfigSchema = z.object({
  gateway: gatewayConfigSchema,
  upstreams: upstreamsConfigSchema,
});
export type IngressConfig = z.infer<typeof ingressConfigSchema>;
export type IngressConfigInput = z.input<typeof ingressConfigSchema>;

/**
 * Validates the ingress sections of a parsed config. Throws `IngressError` (GH_ERR_INGRESS_CONFIG)
 * whose message lists every bad key by path (`gateway.algorithms.0: Invalid option …`).
 */
export function parseIngressConfig(value: unknown, source = 'configuration'): IngressConfig {
  const result = ingressConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`,
  );
  throw new IngressError(
    'GH_ERR_INGRESS_CONFIG',
    `${source}: invalid ingress configuration: ${problems.join('; ')}`,
    { cause: result.error },
  );
}
