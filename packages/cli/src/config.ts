import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { authServerConfigSchema, canonicalIssuer } from '@gatehouse/authserver/client';
import { gatewayConfigSchema, upstreamsConfigSchema } from '@gatehouse/ingress/config';
import { policyConfigSchema } from '@gatehouse/policy';
import { CliError } from './errors.js';
import { formatKeyPath } from './config-key-path.js';

/** The `query:` section: who may ask the query API. */
export const queryConfigSchema = z.strictObject({
  /** Canonical resource URI of the query API (the audience of `audit:read` tokens). */
  resource: z.url().default('http://localhost:7421'),
  /** Scopes a token needs to use the query API. */
  requiredScopes: z.array(z.string()).default(['audit:read']),
});

/** The `audit:` section: what the recorder keeps and how it proves it. */
export const auditConfigSchema = z.strictObject({
  /** Extra argument key patterns to redact (globs, case-insensitive), added to the built-in list. */
  redactKeys: z.array(z.string()).default([]),
  /** How often a signed checkpoint over every active session's head is published (ms). */
  checkpointIntervalMs: z.number().int().positive().default(60_000),
});

/**
 * One schema for `gatehouse.yaml`: every section is validated at start-up. With an `authserver:`
 * section, `gateway.issuer` must be the issuer that server writes into `iss` (compared byte for
 * byte, as the gateway and the query API compare it), or every token it issues would be refused.
 */
export const gatehouseConfigSchema = z
  .strictObject({
    gateway: gatewayConfigSchema,
    upstreams: upstreamsConfigSchema,
    policy: policyConfigSchema,
    authserver: authServerConfigSchema.optional(),
    query: queryConfigSchema.default({ resource: 'http://localhost:7421', requiredScopes: ['audit:read'] }),
    audit: auditConfigSchema.default({ redactKeys: [], checkpointIntervalMs: 60_000 }),
  })
  .superRefine((config, ctx) => {
    if (config.authserver === undefined) return;
    const issued = canonicalIssuer(config.authserver.issuer);
    if (config.gateway.issuer !== issued) {
      ctx.addIssue({
        code: 'custom',
        path: ['authserver', 'issuer'],
        message: `the development authserver issues tokens with iss "${issued}" but gateway.issuer is "${config.gateway.issuer}", so the gateway and the query API would refuse every one (wrong issuer); set gateway.issuer to "${issued}", or leave out authserver to use an external provider`,
      });
    }
  });

export type GatehouseConfig = z.infer<typeof gatehouseConfigSchema>;

/** Validates a parsed config object; `file` only names the source in errors. */
export function validateConfig(value: unknown, file: string): GatehouseConfig {
  const result = gatehouseConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `  ${formatKeyPath(issue.path)}: ${issue.message}`);
  throw new CliError(
    'GH_ERR_CONFIG_INVALID',
    `${file}: invalid configuration\n${problems.join('\n')}`,
    result.error,
  );
}

/** Reads and validates `gatehouse.yaml`. Errors name the file, and the key path or YAML line at fault. */
export async function loadConfig(file: string): Promise<GatehouseConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new CliError(
      'GH_ERR_CONFIG_FILE',
      `${file}: cannot read the configuration file (${(cause as Error).message})`,
      cause,
    );
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (cause) {
    const where = cause instanceof YAMLParseError && cause.linePos ? ` at line ${cause.linePos[0].line}` : '';
    throw new CliError(
      'GH_ERR_CONFIG_FILE',
      `${file}: not valid YAML${where}: ${(cause as Error).message}`,
      cause,
    );
  }
  return validateConfig(value, file);
}

/**
 * The gateway section, with `selfActingAgents` taken from the development authserver when the config
 * does not set it: the clients it lets use `client_credentials` (the only tokens whose `sub` is their
 * own client id), so that no other token is decided on an agent's grants alone.
 */
export function gatewayWithSelfActingAgents(config: GatehouseConfig): GatehouseConfig['gateway'] {
  if (config.gateway.selfActingAgents !== undefined || config.authserver === undefined) return config.gateway;
  return {
    ...config.gateway,
    selfActingAgents: config.authserver.clients
      .filter((client) => client.grantTypes.includes('client_credentials'))
      .map((client) => client.clientId),
  };
}
