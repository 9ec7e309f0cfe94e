import type { Command } from 'commander';
import { CliError } from '../errors.js';
import {
  queryClientFor,
  withQueryOptions,
  type CommonQueryOptions,
  type QueryCommandDeps,
} from '../query-client.js';
import { renderSessions } from '../render/answers.js';
import { createPalette } from '../render/palette.js';
import { instantFlag, timeZoneFlag } from './can.js';

interface SessionsOptions extends CommonQueryOptions {
  agent?: string;
  from?: string;
  to?: string;
  tz?: string;
  limit?: string;
}

/** `gatehouse sessions [--agent A] [--from T] [--to T]`: MCP sessions, newest first. */
export function registerSessionsCommand(program: Command, deps: QueryCommandDeps = {}): Command {
  return withQueryOptions(
    program
      .command('sessions')
      .description('list MCP sessions, newest first')
      .option('--agent <agent>', 'only sessions of this agent')
      .option('--from <time>', 'sessions active at or after (ISO 8601 or words)')
      .option('--to <time>', 'sessions active before (ISO 8601 or words)')
      .option('--tz <zone>', "IANA time zone for words (default: this machine's)")
      .option('--limit <n>', 'at most this many (1–10000, default 100)'),
  ).action(async (options: SessionsOptions) => {
    const tz = timeZoneFlag(options.tz);
    const now = (deps.now ?? (() => new Date()))();
    let limit: number | undefined;
    if (options.limit !== undefined) {
      limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
        throw new CliError(
          'GH_ERR_CLI_USAGE',
          `--limit: ${JSON.stringify(options.limit)} is not a whole number from 1 to 10000`,
        );
    }
    const client = await queryClientFor(options, deps, {
      'querystring/agent': '--agent',
      'querystring/from': '--from',
      'querystring/to': '--to',
      'querystring/limit': '--limit',
    });
    const answer = await client.sessions({
      ...(options.agent === undefined ? {} : { agent: options.agent }),
      ...(options.from === undefined ? {} : { from: instantFlag('--from', options.from, tz, now) }),
      ...(options.to === undefined ? {} : { to: instantFlag('--to', options.to, tz, now) }),
      ...(limit === undefined ? {} : { limit }),
    });
    const out = deps.out ?? process.stdout;
    out.write(
      options.json
        ? `${JSON.stringify(answer, null, 2)}\n`
        : `${renderSessions(answer, createPalette(out, deps.env ?? process.env))}\n`,
    );
  });
}
