import { spawn } from 'node:child_process';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatehouseEvent } from '@gatehouse/events';
import {
  createQueryApi,
  type CapabilitiesAnswer,
  type QueryApi,
  type SessionsAnswer,
} from '@gatehouse/query-api';
import { registerCanCommand } from '../src/commands/can.js';
import { registerDidCommand } from '../src/commands/did.js';
import { registerReplayCommand } from '../src/commands/replay.js';
import { registerSessionsCommand } from '../src/commands/sessions.js';
import { registerVerifyCommand } from '../src/commands/verify.js';
import type { QueryCommandDeps } from '../src/query-client.js';
import {
  AUDIENCE,
  compile,
  createMemoryLog,
  createTokenMint,
  ISSUER,
  openStoreFixture,
  project,
  publishedPolicy,
  Timeline,
  type StoreFixture,
} from '../../../services/query-api/test/fixtures.js';

const GATEHOUSE = path.resolve(import.meta.dirname, '../bin/gatehouse.js');
const NOW = new Date('2026-11-24T20:00:00Z');
const P1 = await publishedPolicy([
  ['agent:support-bot', 'support__list_open_tickets', 'allow'],
  ['agent:support-bot', 'support__read_ticket', 'allow'],
  ['agent:support-bot', 'support__draft_reply', 'allow'],
]);
const P2 = await publishedPolicy([
  ['agent:support-bot', 'support__list_open_tickets', 'allow'],
  ['agent:support-bot', 'support__read_ticket', 'allow'],
]);
const bot = { agent: 'support-bot', user: 'support-bot' };

let fixture: StoreFixture;
let api: QueryApi;
let url: string;
let token: string;
const timeline = new Timeline();

interface Run {
  out: string;
  /** What it wrote to stderr beside the answer. */
  err: string;
  exitCode: number | undefined;
}

/**
 * Runs one `gatehouse …` command line against the test API and captures what it prints. `--api`
 * names the test API unless `withApi` is false.
 */
async function gatehouse(
  args: string[],
  extra: Partial<QueryCommandDeps> & { tty?: boolean; withApi?: boolean } = {},
): Promise<Run> {
  let out = '';
  let err = '';
  let exitCode: number | undefined;
  const { withApi = true, ...rest } = extra;
  const deps: QueryCommandDeps = {
    out: { write: (text: string) => (out += text), isTTY: extra.tty ?? false },
    err: { write: (text: string) => (err += text) },
    env: extra.env ?? {},
    now: () => NOW,
    followIntervalMs: 20,
    setExitCode: (code) => (exitCode = code),
    ...rest,
  };
  const program = new Command('gatehouse')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerCanCommand(program, deps);
  registerDidCommand(program, deps);
  registerReplayCommand(program, deps);
  registerVerifyCommand(program, deps);
  registerSessionsCommand(program, deps);
  await program.parseAsync([
    'node',
    'gatehouse',
    ...args,
    ...(withApi ? ['--api', url] : []),
    ...(args.includes('--token') ? [] : ['--token', token]),
  ]);
  return { out, err, exitCode };
}

/** The message a command rejected with. */
async function refusal(run: Promise<Run>): Promise<string> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return (error as Error).message;
}

beforeAll(async () => {
  fixture = await openStoreFixture();
  const mint = await createTokenMint();
  token = await mint.token();
  const p1 = await compile(P1);
  api = await createQueryApi({
    store: fixture.store,
    log: createMemoryLog(),
    policy: await compile(P2),
    compilePolicy: compile,
    auth: { issuer: ISSUER, audience: AUDIENCE, jwks: mint.jwks },
    clock: () => NOW,
  });
  url = await api.listen({ port: 0 });
  const call = (session: string, iso: string, tool: string) =>
    timeline.call(iso, { session_id: session, ...bot }, tool, p1.decide('support-bot', null, tool));
  /** A session started at `start`, a call a second for each tool, then ended. */
  const recorded = (session: string, start: string, tools: string[]) => {
    const at = (seconds: number) => new Date(Date.parse(start) + seconds * 1000).toISOString();
    const ctx = { session_id: session, ...bot };
    return [
      timeline.at(at(0), 'session.started', ctx, {
        protocol_version: null,
        client_name: 'bot',
        client_version: '1',
      }),
      ...tools.flatMap((tool, i) => call(session, at(i + 1), tool)),
      timeline.at(at(tools.length + 1), 'session.ended', ctx, { reason: 'closed' }),
    ];
  };
  await project(fixture.store, [
    timeline.policy('2026-11-01T00:00:00.000Z', P1),
    timeline.catalog('2026-11-01T00:00:01.000Z', 'support', [
      'list_open_tickets',
      'read_ticket',
      'draft_reply',
      'export_customers',
    ]),
    timeline.policy('2026-11-20T00:00:00.000Z', P2),
    ...recorded('sess-1', '2026-11-17T10:00:00.000Z', [
      'support__read_ticket',
      'support__draft_reply',
      'support__export_customers',
    ]),
  ]);
  // sess-t: seq 0 started, 1–2 read_ticket, 3 export_customers denied, 4 ended; then seq 3 is
  // rewritten as someone with SQL access would (the refusal made to look allowed), hash left as it was.
  const tampered = recorded('sess-t', '2026-11-19T09:00:00.000Z', [
    'support__read_ticket',
    'support__export_customers',
  ]);
  const denied = tampered[3]!;
  expect(denied.type).toBe('call.denied');
  tampered[3] = {
    ...denied,
    decision: { ...denied.decision!, allowed: true },
    outcome: { ...denied.outcome!, status: 'ok' },
  } as GatehouseEvent;
  await project(fixture.store, tampered);
}, 120_000);

afterAll(async () => {
  await api?.close();
  await fixture?.cleanup();
});

describe('gatehouse can', () => {
  it('prints what the agent could call at a past time, and the same answer as JSON with --json', async () => {
    const text = await gatehouse(['can', 'support-bot', '--at', '2026-11-15T00:00:00Z']);
    expect(text.out).toContain('support-bot at 2026-11-15T00:00:00.000Z');
    expect(text.out).toMatch(/✓ allowed\s+support__draft_reply/);
    expect(text.out).toMatch(/✗ denied\s+support__export_customers/);
    const json = JSON.parse(
      (await gatehouse(['can', 'support-bot', '--at', '2026-11-21T00:00:00Z', '--json'])).out,
    ) as CapabilitiesAnswer;
    expect(json.policy_version).toBe(P2.version);
    expect(json.tools.find((t) => t.name === 'support__draft_reply')!.allowed).toBe(false);
  });

  it('reads words in --at in the given zone', async () => {
    const json = JSON.parse(
      (await gatehouse(['can', 'support-bot', '--at', 'yesterday 14:00', '--tz', 'Europe/Berlin', '--json']))
        .out,
    ) as CapabilitiesAnswer;
    expect(json.at).toBe('2026-11-23T13:00:00.000Z');
  });

  it('names the flag and value it cannot read', async () => {
    await expect(gatehouse(['can', 'support-bot', '--at', 'yesterdayy'])).rejects.toThrow(
      '--at: "yesterdayy" is not a date or time',
    );
  });

  it("names --at, not the API's field path, when no policy was in force then", async () => {
    const message = await refusal(gatehouse(['can', 'support-bot', '--at', '2020-01-01T00:00:00Z']));
    expect(message).toBe('--at: no policy had been published at 2020-01-01T00:00:00.000Z (HTTP 404)');
  });

  it('notes an agent or a user that the policy names nowhere, which every tool then denies by default', async () => {
    const nobody = await gatehouse(['can', 'nobody']);
    expect(nobody.out).toContain('0 of 4 tools allowed');
    expect(nobody.out).toContain(
      `note: agent "nobody" appears nowhere in policy ${P2.version.slice(0, 12)}: only rules for * apply to it`,
    );
    const mallory = await gatehouse(['can', 'support-bot', '--user', 'mallory']);
    expect(mallory.out).toContain('note: user "mallory" appears nowhere in policy');
    expect(mallory.out).not.toContain('note: agent');
    expect((await gatehouse(['can', 'support-bot'])).out).not.toContain('note:');
    const json = JSON.parse((await gatehouse(['can', 'nobody', '--user', 'mallory', '--json'])).out) as {
      in_policy: unknown;
    };
    expect(json.in_policy).toEqual({ agent: false, user: false });
  });

  it('refuses an unknown flag before asking anything', async () => {
    const error = await gatehouse(['can', 'support-bot', '--att', 'now']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommanderError);
    expect((error as CommanderError).code).toBe('commander.unknownOption');
  });
});

describe('gatehouse did', () => {
  it('shows the calls of "last tuesday" in a time zone with per-tool counts', async () => {
    const { out } = await gatehouse([
      'did',
      'support-bot',
      '--when',
      'last tuesday',
      '--tz',
      'America/Los_Angeles',
    ]);
    expect(out).toContain(
      'from 2026-11-17T08:00:00.000Z to 2026-11-18T08:00:00.000Z ("last tuesday" in America/Los_Angeles)',
    );
    expect(out).toMatch(/support__export_customers\s+1\s+0\s+1/);
    expect(out).toMatch(/sess-1\s+support__export_customers\s+denied/);
  });

  it("turns the API's complaint about a parameter into the flag the user typed, and the value it read", async () => {
    expect(await refusal(gatehouse(['did', 'support-bot', '--when', 'yesterdayy']))).toMatch(
      /^--when: "yesterdayy" is not a date, time or period I can read; try "last tuesday"/,
    );
    expect(await refusal(gatehouse(['did', 'support-bot', '--when', 'tomorrow', '--tz', 'UTC']))).toMatch(
      /^--when: "tomorrow" starts in the future \(read as from 2026-11-25T00:00:00\.000Z\); name a past day/,
    );
    expect(
      await refusal(gatehouse(['did', 'support-bot', '--when', 'today', '--cursor', 'not-a-cursor'])),
    ).toBe('--cursor: not a cursor issued by this API');
  });

  it('asks for a window when none is given, and names the missing end of a half one', async () => {
    expect(await refusal(gatehouse(['did', 'support-bot']))).toBe(
      '--when or --from/--to is required: the window to look at, e.g. --when "last tuesday", or --from 2026-11-17 --to 2026-11-18',
    );
    expect(await refusal(gatehouse(['did', 'support-bot', '--from', 'yesterday']))).toBe(
      '--to: give it with --from (or give --when "last tuesday" instead of both)',
    );
    expect(await refusal(gatehouse(['did', 'support-bot', '--to', 'today']))).toBe(
      '--from: give it with --to (or give --when "last tuesday" instead of both)',
    );
  });

  it('refuses an unknown --tz with one message in every command, before asking the API', async () => {
    const expected = '--tz: "Mars/Olympus" is not an IANA time zone name (e.g. Europe/Berlin)';
    const asked: string[] = [];
    const counting: typeof fetch = (input, init) => {
      asked.push(String(input));
      return fetch(input, init);
    };
    for (const args of [
      ['did', 'support-bot', '--when', 'last tuesday'],
      ['did', 'support-bot', '--from', '2026-11-17T00:00:00Z', '--to', '2026-11-18T00:00:00Z'],
      ['sessions', '--from', 'yesterday'],
      ['sessions'],
      ['can', 'support-bot', '--at', 'yesterday 14:00'],
    ]) {
      expect(await refusal(gatehouse([...args, '--tz', 'Mars/Olympus'], { fetch: counting }))).toBe(expected);
    }
    expect(asked).toEqual([]);
  });
});

describe('gatehouse replay', () => {
  it('prints the session as a timeline in seq order, without colour when not on a terminal', async () => {
    const { out } = await gatehouse(['replay', 'sess-1']);
    const seqs = out
      .trim()
      .split('\n')
      .map((line) => Number(line.trim().split(/\s+/)[0]));
    expect(seqs).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(out).not.toContain('\u001b[');
    expect(out).toMatch(/call support__export_customers {2}denied default-deny/);
  });

  it('reads a session longer than one page of the API page by page', async () => {
    const pages: string[] = [];
    // The API's page is 10,000 events; ask for 3 at a time to see the paging with a short session.
    const paging: typeof fetch = (input, init) => {
      const target = new URL(String(input));
      if (target.pathname.endsWith('/events')) {
        target.searchParams.set('limit', '3');
        pages.push(target.searchParams.get('from_seq') ?? '');
      }
      return fetch(target, init);
    };
    const { out, err } = await gatehouse(['replay', 'sess-1', '--json'], { fetch: paging });
    const answer = JSON.parse(out) as { events: { seq: number }[]; first_bad: unknown };
    expect(answer.events.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(pages).toEqual(['0', '3', '6']);
    // Each page's chain continues the head of the page before: an intact session stays intact.
    expect(answer.first_bad).toBeNull();
    expect(err).toBe('');
  });

  it('says after the timeline, on stderr, where a tampered record breaks, and exits 0', async () => {
    const run = await gatehouse(['replay', 'sess-t']);
    expect(run.out.trim().split('\n')).toHaveLength(5);
    expect(run.err).toBe(
      'warning: the record of this session is broken at seq 3 (edited); what is shown may have been altered: run `gatehouse verify sess-t`\n',
    );
    expect(run.exitCode).toBeUndefined();
    expect((await gatehouse(['replay', 'sess-1'])).err).toBe('');
  });

  it('names the broken link in --json output too, also when the break is on a later page', async () => {
    const paging: typeof fetch = (input, init) => {
      const target = new URL(String(input));
      if (target.pathname.endsWith('/events')) target.searchParams.set('limit', '3');
      return fetch(target, init);
    };
    const run = await gatehouse(['replay', 'sess-t', '--json'], { fetch: paging });
    expect((JSON.parse(run.out) as { first_bad: unknown }).first_bad).toMatchObject({
      seq: 3,
      index: 3,
      kind: 'edited',
    });
    expect(run.err).toContain('broken at seq 3 (edited)');
  });

  it("names SESSION, not the API's field path, for a session with no events", async () => {
    const message = await refusal(gatehouse(['replay', 'nosuchsession']));
    expect(message).toBe('SESSION: no events recorded for session "nosuchsession" (HTTP 404)');
  });

  it('colours on a terminal unless NO_COLOR is set', async () => {
    expect((await gatehouse(['replay', 'sess-1'], { tty: true })).out).toContain('\u001b[31m');
    expect((await gatehouse(['replay', 'sess-1'], { tty: true, env: { NO_COLOR: '1' } })).out).not.toContain(
      '\u001b[',
    );
  });

  it('flags the calls the current policy would decide differently with --what-if current', async () => {
    const { out } = await gatehouse(['replay', 'sess-1', '--what-if', 'current']);
    expect(out).toMatch(/call support__draft_reply {2}allowed[^\n]*\n\s+what-if\s+would be DENIED/);
    expect(out).toContain('1 decision(s) would change, 2 unchanged');
  });

  it('takes the short policy version the answers print for --what-if, and names --what-if for one never published', async () => {
    const short = P1.version.slice(0, 12);
    const run = await gatehouse(['replay', 'sess-1', '--what-if', short]);
    expect(run.out).toContain(`what-if policy ${short}: 0 decision(s) would change, 3 unchanged`);
    const json = JSON.parse((await gatehouse(['replay', 'sess-1', '--what-if', short, '--json'])).out) as {
      what_if: { policy: unknown };
    };
    expect(json.what_if.policy).toEqual({ requested: short, version: P1.version });
    expect(await refusal(gatehouse(['replay', 'sess-1', '--what-if', '000000000000']))).toBe(
      '--what-if: no policy whose version starts with 000000000000 was ever published (HTTP 404)',
    );
    expect(await refusal(gatehouse(['replay', 'sess-1', '--what-if', 'f'.repeat(64)]))).toBe(
      `--what-if: no policy with version ${'f'.repeat(64)} was ever published (HTTP 404)`,
    );
    expect(await refusal(gatehouse(['replay', 'sess-1', '--what-if', short.slice(0, 11)]))).toBe(
      `--what-if: "${short.slice(0, 11)}" is neither "current" nor a policy version (64 hex characters, or the first 12 or more of them)`,
    );
  });

  it('follows a live session until it ends', async () => {
    const first = timeline.at(
      '2026-11-24T19:00:00.000Z',
      'session.started',
      { session_id: 'live', ...bot },
      { protocol_version: null, client_name: null, client_version: null },
    );
    await project(fixture.store, [first]);
    const running = gatehouse(['replay', 'live', '--follow', '--json']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await project(
      fixture.store,
      timeline.call('2026-11-24T19:00:01.000Z', { session_id: 'live', ...bot }, 'support__read_ticket', {
        allowed: true,
        rule: 'allow',
        policy_version: P2.version,
      }),
    );
    await project(fixture.store, [
      timeline.at(
        '2026-11-24T19:00:02.000Z',
        'session.ended',
        { session_id: 'live', ...bot },
        { reason: 'closed' },
      ),
    ]);
    const lines = (await running).out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as GatehouseEvent);
    expect(lines.map((e) => [e.seq, e.type])).toEqual([
      [0, 'session.started'],
      [1, 'call.attempted'],
      [2, 'call.completed'],
      [3, 'session.ended'],
    ]);
  });
});

describe('gatehouse verify and sessions', () => {
  it('exits 0 for an intact session and says so', async () => {
    const run = await gatehouse(['verify', 'sess-1']);
    expect(run.exitCode).toBe(0);
    expect(run.out).toContain('✔ intact  sess-1: 7 events');
    expect(JSON.parse((await gatehouse(['verify', 'sess-1', '--json'])).out)).toMatchObject({
      intact: true,
      first_bad: null,
    });
  });

  it('lists sessions as JSON with --json', async () => {
    const answer = JSON.parse(
      (
        await gatehouse([
          'sessions',
          '--agent',
          'support-bot',
          '--from',
          '2026-11-17T00:00:00Z',
          '--to',
          '2026-11-18T00:00:00Z',
          '--json',
        ])
      ).out,
    ) as SessionsAnswer;
    expect(answer.sessions.map((s) => s.session_id)).toEqual(['sess-1']);
  });

  it('reports a refused token without echoing it, pointing at GATEHOUSE_TOKEN and --token - first', async () => {
    const error = await gatehouse(['sessions', '--token', 'not-a-jwt']).catch((e: unknown) => e as Error);
    expect((error as Error).message).toMatch(/refused the access token \(401 invalid_token\)/);
    expect((error as Error).message).toMatch(/set GATEHOUSE_TOKEN \(or pipe it to --token -\)/);
    expect((error as Error).message).not.toContain('not-a-jwt');
  });

  it('names the audience the API requires (its resource, not the URL it was reached at) and how to get a token for it', async () => {
    const message = await refusal(gatehouse(['sessions', '--token', 'not-a-jwt']));
    expect(message).toContain(
      `to a token for resource ${AUDIENCE} with scope audit:read, such as \`gatehouse token --client analyst\` prints in embedded mode`,
    );
    expect(message).not.toContain(url);
    // Without the API's metadata, it says where the audience is configured.
    const noMetadata: typeof fetch = (input, init) =>
      String(input).includes('/.well-known/')
        ? Promise.resolve(new Response('no', { status: 404 }))
        : fetch(input, init);
    expect(await refusal(gatehouse(['sessions', '--token', 'not-a-jwt'], { fetch: noMetadata }))).toContain(
      "to a token for the query API's resource (its config's query.resource, default http://localhost:7421) with scope audit:read",
    );
  });

  it('names GATEHOUSE_QUERY_URL, not --api, when the bad URL came from it', async () => {
    expect(
      await refusal(gatehouse(['sessions'], { withApi: false, env: { GATEHOUSE_QUERY_URL: 'nonsense' } })),
    ).toBe('GATEHOUSE_QUERY_URL: "nonsense" is not an http(s) URL');
    expect(
      await refusal(
        gatehouse(['sessions'], { withApi: false, env: { GATEHOUSE_QUERY_URL: 'http://127.0.0.1:1' } }),
      ),
    ).toMatch(/^GATEHOUSE_QUERY_URL: cannot reach the query API at http:\/\/127\.0\.0\.1:1/);
    expect(
      await refusal(
        gatehouse(['sessions', '--api', 'nonsense'], { withApi: false, env: { GATEHOUSE_QUERY_URL: url } }),
      ),
    ).toBe('--api: "nonsense" is not an http(s) URL');
  });
});

describe('--token - (the token on standard input, out of the process list)', () => {
  const sessionsOfBot = [
    'sessions',
    '--agent',
    'support-bot',
    '--from',
    '2026-11-17T00:00:00Z',
    '--to',
    '2026-11-18T00:00:00Z',
    '--json',
  ];

  it('reads the token from standard input, trailing newline and all', async () => {
    const run = await gatehouse([...sessionsOfBot, '--token', '-'], {
      stdin: Readable.from([`${token.slice(0, 10)}`, `${token.slice(10)}\n`]),
    });
    expect((JSON.parse(run.out) as SessionsAnswer).sessions.map((s) => s.session_id)).toEqual(['sess-1']);
  });

  it('prefers it over GATEHOUSE_TOKEN', async () => {
    const run = await gatehouse([...sessionsOfBot, '--token', '-'], {
      stdin: Readable.from([token]),
      env: { GATEHOUSE_TOKEN: 'not-a-jwt' },
    });
    expect((JSON.parse(run.out) as SessionsAnswer).sessions).toHaveLength(1);
  });

  it('refuses an empty standard input, naming --token -', async () => {
    await expect(
      gatehouse([...sessionsOfBot, '--token', '-'], { stdin: Readable.from(['\n']) }),
    ).rejects.toMatchObject({
      code: 'GH_ERR_CLI_QUERY_TOKEN',
      message: expect.stringMatching(/^--token -: standard input held no token/),
    });
  });

  it('refuses more than one word without echoing what it read', async () => {
    const error = await gatehouse([...sessionsOfBot, '--token', '-'], {
      stdin: Readable.from(['secret-one secret-two\n']),
    }).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({
      code: 'GH_ERR_CLI_QUERY_TOKEN',
      message: expect.stringMatching(/^--token -: /),
    });
    expect((error as Error).message).not.toContain('secret-');
  });

  it('works through the real command: the token piped to bin/gatehouse.js', async () => {
    const child = spawn(process.execPath, [GATEHOUSE, ...sessionsOfBot, '--api', url, '--token', '-'], {
      env: { ...process.env, GATEHOUSE_TOKEN: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end(`${token}\n`);
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, err }).toMatchObject({ code: 0 });
    expect((JSON.parse(out) as SessionsAnswer).sessions.map((s) => s.session_id)).toEqual(['sess-1']);
  });
});
