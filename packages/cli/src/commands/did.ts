import type { Command } from 'commander';
import { CliError } from '../errors.js';
import {
  queryClientFor,
  withQueryOptions,
  type CommonQueryOptions,
  type QueryCommandDeps,
} from '../query-client.js';
import { renderActivity } from '../render/answers.js';
import { createPalette } from '../render/palette.js';
import { instantFlag, timeZoneFlag } from './can.js';

interface DidOptions extends CommonQueryOptions {
  when?: string;
  tz?: string;
  from?: string;
  to?: string;
  limit?: string;
  cursor?: string;
}

/**
 * `gatehouse did AGENT --when "last tuesday" [--tz Z] | --from T --to T`: the agent's calls in a
 * window, per-tool counts first.
 */
export function registerDidCommand(program: Command, deps: QueryCommandDeps = {}): Command {
  return withQueryOptions(
    program
      .command('did')
      .description('what AGENT did in a time window')
      .argument('<agent>', 'agent (OAuth client_id)')
      .option('--when <words>', '"last tuesday", "yesterday 14:00-16:00", "past 2 hours", "today"')
      .option('--tz <zone>', "IANA time zone the words are read in (default: this machine's)")
      .option('--from <time>', 'window start (ISO 8601 or words), with --to')
      .option('--to <time>', 'window end, exclusive (ISO 8601 or words), with --from')
      .option('--limit <n>', 'events per page (1–10000, default 1000)')
      .option('--cursor <cursor>', 'next_cursor of a previous --json answer'),
  ).action(async (agent: string, options: DidOptions) => {
    const tz = timeZoneFlag(options.tz);
    const now = (deps.now ?? (() => new Date()))();
    if (options.when !== undefined && (options.from !== undefined || options.to !== undefined)) {
      throw new CliError('GH_ERR_CLI_USAGE', '--when: give either --when or --from/--to, not both');
    }
    if (options.when === undefined && options.from === undefined && options.to === undefined) {
      throw new CliError(
        'GH_ERR_CLI_USAGE',
        '--when or --from/--to is required: the window to look at, e.g. --when "last tuesday", or --from 2026-11-17 --to 2026-11-18',
      );
    }
    if (options.when === undefined && (options.from === undefined || options.to === undefined)) {
      const [missing, given] = options.from === undefined ? ['--from', '--to'] : ['--to', '--from'];
      throw new CliError(
        'GH_ERR_CLI_USAGE',
        `${missing}: give it with ${given} (or give --when "last tuesday" instead of both)`,
      );
    }
    let limit: number | undefined;
    if (options.limit !== undefined) {
      limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
        throw new CliError(
          'GH_ERR_CLI_USAGE',
          `--limit: ${JSON.stringify(options.limit)} is not a whole number from 1 to 10000`,
        );
    }
    const params = {
      ...(options.when === undefined
        ? {
            from: instantFlag('--from', options.from!, tz, now),
            to: instantFlag('--to', options.to!, tz, now),
          }
        : { when: options.when, tz }),
      ...(limit === undefined ? {} : { limit }),
      ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
    };
    const client = await queryClientFor(options, deps, {
      'querystring/when': '--when',
      'querystring/tz': '--tz',
      'querystring/from': '--from',
      'querystring/to': '--to',
      'querystring/limit': '--limit',
      'querystring/cursor': '--cursor',
    });
    const answer = await client.activity(agent, params);
    const out = deps.out ?? process.stdout;
    out.write(
      options.json
        ? `${JSON.stringify(answer, null, 2)}\n`
        : `${renderActivity(answer, createPalette(out, deps.env ?? process.env))}\n`,
    );
  });
}
