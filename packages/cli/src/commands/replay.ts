import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { GatehouseEvent } from '@gatehouse/events';
import type { WhatIfAnswer } from '@gatehouse/query-api';
import { CliError } from '../errors.js';
import {
  queryClientFor,
  withQueryOptions,
  type CommonQueryOptions,
  type QueryCommandDeps,
} from '../query-client.js';
import { createPalette } from '../render/palette.js';
import { renderTimeline } from '../render/timeline.js';

interface ReplayOptions extends CommonQueryOptions {
  whatIf?: string;
  follow?: boolean;
}

/** `current`, a policy version, or its first 12 or more hex characters (the short form answers print). */
const POLICY_REF = /^(current|[0-9a-f]{12,64})$/;

/**
 * `gatehouse replay SESSION [--what-if current|VERSION] [--follow]`: the session as a timeline in
 * seq order. `--what-if` flags the calls another policy would decide differently (VERSION: in full,
 * or its first 12 or more hex characters); `--follow` keeps polling a live session for new events
 * until `session.ended` (with `--json`: one event per line).
 */
export function registerReplayCommand(program: Command, deps: QueryCommandDeps = {}): Command {
  return withQueryOptions(
    program
      .command('replay')
      .description('replay a session as a timeline')
      .argument('<session>', 'MCP session id')
      .option(
        '--what-if <policy>',
        '"current" or a policy version (its first 12 or more hex characters will do): flag calls it would decide differently',
      )
      .option('--follow', 'keep printing new events of a live session until it ends'),
  ).action(async (session: string, options: ReplayOptions) => {
    const policy = options.whatIf?.toLowerCase();
    if (policy !== undefined && !POLICY_REF.test(policy)) {
      throw new CliError(
        'GH_ERR_CLI_USAGE',
        `--what-if: ${JSON.stringify(options.whatIf)} is neither "current" nor a policy version (64 hex characters, or the first 12 or more of them)`,
      );
    }
    const client = await queryClientFor(options, deps, {
      'querystring/policy': '--what-if',
      'params/id': 'SESSION',
    });
    const out = deps.out ?? process.stdout;
    const palette = createPalette(out, deps.env ?? process.env);
    // Page by page (the API answers at most a page, with next_from_seq while there is more).
    const events: GatehouseEvent[] = [];
    for (let from: number | undefined = 0; from !== undefined;) {
      const page = await client.sessionEvents(session, { from_seq: from });
      events.push(...page.events);
      from = page.next_from_seq;
    }
    const whatIf: WhatIfAnswer | undefined =
      policy === undefined ? undefined : await client.whatIf(session, policy);

    if (options.json && !options.follow) {
      out.write(
        `${JSON.stringify({ session_id: session, events, ...(whatIf === undefined ? {} : { what_if: whatIf }) }, null, 2)}\n`,
      );
      return;
    }
    const print = (batch: readonly GatehouseEvent[]) => {
      if (batch.length === 0) return;
      out.write(
        options.json
          ? batch.map((e) => `${JSON.stringify(e)}\n`).join('')
          : `${renderTimeline(batch, palette, whatIf?.changes ?? [])}\n`,
      );
    };
    print(events);
    if (whatIf !== undefined && !options.json) {
      out.write(
        `${palette.dim(`what-if policy ${whatIf.policy.version.slice(0, 12)}: ${whatIf.changes.length} decision(s) would change, ${whatIf.unchanged} unchanged`)}\n`,
      );
    }
    if (!options.follow) return;
    let last = events.at(-1);
    while (last?.type !== 'session.ended') {
      await sleep(deps.followIntervalMs ?? 1_000);
      const next = (await client.sessionEvents(session, { from_seq: last === undefined ? 0 : last.seq + 1 }))
        .events;
      print(next);
      last = next.at(-1) ?? last;
    }
  });
}
