import type { Command } from 'commander';
import { getDevAccessToken } from '@gatehouse/authserver/client';
import { loadConfig } from '../config.js';
import { CliError } from '../errors.js';
import { readSettings } from '../settings.js';

/** `gatehouse token --client C [--user U]`: an access token from the development authserver. */
export function registerTokenCommand(program: Command): void {
  program
    .command('token')
    .description(
      'print an access token from the development authserver (client credentials, or code + PKCE as --user)',
    )
    .requiredOption('--client <id>', 'client id from the authserver section of the config')
    .option('--user <name>', 'act for this user (authorization code + PKCE with the development login)')
    .option(
      '--resource <uri>',
      'audience of the token (default: the gateway, or the query API for audit:read clients)',
    )
    .option('--json', 'print {access_token, client, user, resource} as JSON')
    .action(async (flags: { client: string; user?: string; resource?: string; json?: boolean }) => {
      const settings = readSettings();
      const config = await loadConfig(settings.configPath);
      const token = await issueDevToken(config, flags.client, flags.user, flags.resource);
      if (flags.json)
        console.log(
          JSON.stringify({
            access_token: token.accessToken,
            client: flags.client,
            user: flags.user ?? null,
            resource: token.resource,
          }),
        );
      else console.log(token.accessToken);
    });
}

/** Obtains a token for a configured client; errors name the flag whose value is unknown. */
export async function issueDevToken(
  config: Awaited<ReturnType<typeof loadConfig>>,
  clientId: string,
  user?: string,
  resource?: string,
): Promise<{ accessToken: string; resource: string }> {
  if (!config.authserver) {
    throw new CliError(
      'GH_ERR_CLI_USAGE',
      'token: the config has no authserver section (tokens come from your identity provider)',
    );
  }
  const client = config.authserver.clients.find((c) => c.clientId === clientId);
  if (!client) {
    const known = config.authserver.clients.map((c) => c.clientId).join(', ');
    throw new CliError(
      'GH_ERR_CLI_USAGE',
      `--client: "${clientId}" is not a configured client (known: ${known})`,
    );
  }
  if (user !== undefined && !config.authserver.users.includes(user)) {
    throw new CliError(
      'GH_ERR_CLI_USAGE',
      `--user: "${user}" is not a configured user (known: ${config.authserver.users.join(', ')})`,
    );
  }
  const audience =
    resource ??
    (client.scopes.includes('audit:read') && !client.scopes.includes('mcp:tools')
      ? config.query.resource
      : config.gateway.resource);
  const accessToken = await getDevAccessToken({
    issuer: config.authserver.issuer,
    clientId,
    clientSecret: client.clientSecret,
    ...(user !== undefined ? { user } : {}),
    resource: audience,
    scope: client.scopes,
  });
  return { accessToken, resource: audience };
}
