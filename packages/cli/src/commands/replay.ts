import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { verifyChain, type ChainBreak, type ChainHead, type GatehouseEvent } from '@gatehouse/events';
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
 * The hash chain of the events replay shows, checked page by page as it reads them, each page
 * continuing the head of the one before: the first link that does not hold, once. Cheap (one
 * SHA-256 per event); `gatehouse verify` is the full check (signed checkpoints, forged copies).
 */
class ShownChain {
  readonly #session: string;
  #head: ChainHead | undefined;
  #count = 0;
  /** The first broken link, once one is found; later pages are not checked. */
  firstBad: ChainBreak | null = null;

  constructor(session: string) {
    this.#session = session;
  }

  /** Checks the next page; returns the break it found, if it found the first one. */
  add(page: readonly GatehouseEvent[]): ChainBreak | undefined {
    if (this.firstBad !== null || page.length === 0) return undefined;
    const result = verifyChain(page, {
      sessionId: this.#session,
      indexBase: this.#count,
      ...(this.#head === undefined ? {} : { after: this.#head }),
    });
    this.#count += page.length;
    if (result.ok) {
      this.#head = result.head ?? this.#head;
      return undefined;
    }
    this.firstBad = result.firstBad;
    return result.firstBad;
  }
}

/** The line replay prints after the timeline when the record does not hold. */
function brokenRecordLine(session: string, broken: ChainBreak): string {
  return `warning: the record of this session is broken at seq ${broken.seq} (${broken.kind}); what is shown may have been altered: run \`gatehouse verify ${session}\`\n`;
}

/**
 * `gatehouse replay SESSION [--what-if current|VERSION] [--follow]`: the session as a timeline in
 * seq order. `--what-if` flags the calls another policy would decide differently (VERSION: in full,
 * or its first 12 or more hex characters); `--follow` keeps polling a live session for new events
 * until `session.ended` (with `--json`: one event per line). The hash chain of what is shown is
 * checked as it is read: a broken link is one line on stderr after the timeline (and `first_bad` in
 * the JSON answer), naming its seq and `gatehouse verify`. The exit code stays 0: replay answered.
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
    const err = deps.err ?? process.stderr;
    const palette = createPalette(out, deps.env ?? process.env);
    const chain = new ShownChain(session);
    // Page by page (the API answers at most a page, with next_from_seq while there is more).
    const events: GatehouseEvent[] = [];
    for (let from: number | undefined = 0; from !== undefined;) {
      const page = await client.sessionEvents(session, { from_seq: from });
      chain.add(page.events);
      events.push(...page.events);
      from = page.next_from_seq;
    }
    const whatIf: WhatIfAnswer | undefined =
      policy === undefined ? undefined : await client.whatIf(session, policy);
    const warnIfBroken = (broken: ChainBreak | null | undefined) => {
      if (broken) err.write(brokenRecordLine(session, broken));
    };

    if (options.json && !options.follow) {
      out.write(
        `${JSON.stringify({ session_id: session, events, first_bad: chain.firstBad, ...(whatIf === undefined ? {} : { what_if: whatIf }) }, null, 2)}\n`,
      );
      warnIfBroken(chain.firstBad);
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
    warnIfBroken(chain.firstBad);
    if (!options.follow) return;
    let last = events.at(-1);
    while (last?.type !== 'session.ended') {
      await sleep(deps.followIntervalMs ?? 1_000);
      const next = (await client.sessionEvents(session, { from_seq: last === undefined ? 0 : last.seq + 1 }))
        .events;
      print(next);
      warnIfBroken(chain.add(next));
      last = next.at(-1) ?? last;
    }
  });
}
