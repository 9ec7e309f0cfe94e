import type { Command } from 'commander';
import { isTimeZone, QueryApiError, resolveInstant } from '@gatehouse/query-api/client';
import { CliError } from '../errors.js';
import {
  queryClientFor,
  withQueryOptions,
  type CommonQueryOptions,
  type QueryCommandDeps,
} from '../query-client.js';
import { renderCapabilities } from '../render/answers.js';
import { createPalette } from '../render/palette.js';

interface CanOptions extends CommonQueryOptions {
  user?: string;
  at?: string;
  tz?: string;
}

/** The local IANA time zone, for reading words such as "yesterday 14:00". */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/**
 * Reads `--tz`: an IANA zone name, else this machine's zone. An unknown name is refused here, with
 * one message for every command, before anything is asked.
 */
export function timeZoneFlag(tz: string | undefined): string {
  if (tz === undefined) return localTimeZone();
  if (!isTimeZone(tz))
    throw new CliError(
      'GH_ERR_CLI_USAGE',
      `--tz: ${JSON.stringify(tz)} is not an IANA time zone name (e.g. Europe/Berlin)`,
    );
  return tz;
}

/** Reads `--at`-style values (ISO 8601 or words in `tz`) as ISO 8601 UTC; errors name the flag. */
export function instantFlag(flag: string, value: string, tz: string, now: Date): string {
  try {
    return resolveInstant(value, tz, now, flag).toISOString();
  } catch (error) {
    if (error instanceof QueryApiError) throw new CliError('GH_ERR_CLI_USAGE', error.message, error);
    throw error;
  }
}

/**
 * `gatehouse can AGENT [--user U] [--at T] [--tz Z]`: what the agent could call (for the user) at
 * T — now by default — under the policy and catalogs in force then.
 */
export function registerCanCommand(program: Command, deps: QueryCommandDeps = {}): Command {
  return withQueryOptions(
    program
      .command('can')
      .description('what AGENT could call (acting for --user) at a point in time')
      .argument('<agent>', 'agent (OAuth client_id)')
      .option('--user <user>', 'the user the agent acts for')
      .option('--at <time>', 'ISO 8601 or words ("yesterday 14:00", "2 days ago"); default now')
      .option('--tz <zone>', "IANA time zone for words in --at (default: this machine's)"),
  ).action(async (agent: string, options: CanOptions) => {
    const tz = timeZoneFlag(options.tz);
    const at =
      options.at === undefined
        ? undefined
        : instantFlag('--at', options.at, tz, (deps.now ?? (() => new Date()))());
    const client = await queryClientFor(options, deps, {
      'querystring/at': '--at',
      'querystring/user': '--user',
      'params/agent': 'AGENT',
    });
    const answer = await client.capabilities(agent, { user: options.user, at });
    const out = deps.out ?? process.stdout;
    out.write(
      options.json
        ? `${JSON.stringify(answer, null, 2)}\n`
        : `${renderCapabilities(answer, createPalette(out, deps.env ?? process.env))}\n`,
    );
  });
}
