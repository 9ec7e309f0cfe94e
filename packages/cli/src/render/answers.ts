import type {
  ActivityAnswer,
  CapabilitiesAnswer,
  SessionsAnswer,
  SessionVerification,
} from '@gatehouse/query-api';
import { table, type Palette } from './palette.js';

const short = (hash: string) => hash.slice(0, 12);

/**
 * `gatehouse can`: one line per tool, allowed first marked ✓, refused ✗, with the deciding rule;
 * then a note for an agent or user the policy does not name at all (often a misspelt name).
 */
export function renderCapabilities(answer: CapabilitiesAnswer, c: Palette): string {
  const who = answer.user === null ? answer.agent : `${answer.agent} acting for ${answer.user}`;
  const head = `${c.bold(who)} at ${answer.at} ${c.dim(`(policy ${short(answer.policy_version)})`)}`;
  const notes = unnamedNotes(answer)
    .map((note) => `\n${c.yellow(note)}`)
    .join('');
  if (answer.tools.length === 0)
    return `${head}\n${c.dim('no upstream tool catalog had been published then')}${notes}`;
  const rows = answer.tools.map((t) => [
    t.allowed ? c.green('✓ allowed') : c.red('✗ denied '),
    t.name,
    c.dim(t.rule),
  ]);
  const allowed = answer.tools.filter((t) => t.allowed).length;
  return `${head}\n${table(rows)}\n${c.dim(`${allowed} of ${answer.tools.length} tools allowed`)}${notes}`;
}

/** One line for each of the agent and user that the policy in force does not name. */
function unnamedNotes(answer: CapabilitiesAnswer): string[] {
  // An API from before `in_policy` says nothing either way.
  const named = answer.in_policy as CapabilitiesAnswer['in_policy'] | undefined;
  const notes: string[] = [];
  const policy = `policy ${short(answer.policy_version)}`;
  if (named?.agent === false)
    notes.push(
      `note: agent ${JSON.stringify(answer.agent)} appears nowhere in ${policy}: only rules for * apply to it`,
    );
  if (named?.user === false && answer.user !== null)
    notes.push(
      `note: user ${JSON.stringify(answer.user)} appears nowhere in ${policy}: only rules for * apply to them`,
    );
  return notes;
}

/** `gatehouse did`: the window, per-tool counts, then the calls. */
export function renderActivity(answer: ActivityAnswer, c: Palette): string {
  const words = answer.window.when === undefined ? '' : ` ("${answer.window.when}" in ${answer.window.tz})`;
  const lines = [`${c.bold(answer.agent)} from ${answer.window.from} to ${answer.window.to}${words}`];
  if (answer.tools.length === 0) {
    lines.push(c.dim('no calls in this window'));
    return lines.join('\n');
  }
  lines.push(
    table([
      ['tool', 'attempted', 'allowed', 'denied', 'ok', 'error'].map((h) => c.dim(h)),
      ...answer.tools.map((t) => [
        t.tool,
        String(t.attempted),
        String(t.allowed),
        t.denied > 0 ? c.red(String(t.denied)) : '0',
        String(t.ok),
        t.error > 0 ? c.yellow(String(t.error)) : '0',
      ]),
    ]),
    '',
  );
  const rows = answer.events
    .filter((e) => e.type !== 'call.attempted')
    .map((e) => [c.dim(e.ts), e.session_id, e.tool ?? '', outcomeText(e.type, e.outcome?.status, c)]);
  lines.push(table(rows));
  if (answer.next_cursor !== undefined)
    lines.push(c.dim(`… more: use --json with --cursor ${answer.next_cursor}, or the NDJSON export`));
  return lines.join('\n');
}

function outcomeText(type: string, status: string | undefined, c: Palette): string {
  if (type === 'call.denied') return c.red('denied');
  if (type === 'tools.listed') return c.dim('listed tools');
  if (status === 'ok') return c.green('ok');
  return c.yellow(status ?? type);
}

/** `gatehouse sessions`: newest first. */
export function renderSessions(answer: SessionsAnswer, c: Palette): string {
  if (answer.sessions.length === 0) return c.dim('no sessions');
  const rows = [
    ['session', 'agent', 'user', 'first', 'last', 'events', 'calls', 'denied'].map((h) => c.dim(h)),
    ...answer.sessions.map((s) => [
      s.session_id,
      s.agent ?? '',
      s.user ?? '',
      s.first_ts,
      s.last_ts,
      String(s.events),
      String(s.calls),
      s.denied > 0 ? c.red(String(s.denied)) : '0',
    ]),
  ];
  return (
    table(rows) +
    (answer.next_cursor === undefined
      ? ''
      : `\n${c.dim('… more sessions: narrow with --from/--to or --agent')}`)
  );
}

/** `gatehouse verify`: intact or the first bad link, and what the checkpoint says. */
export function renderVerification(report: SessionVerification, c: Palette): string {
  const lines: string[] = [];
  if (report.intact) {
    const head = report.head === null ? 'empty' : `head seq ${report.head.seq} (${short(report.head.hash)})`;
    lines.push(`${c.green('✔ intact')}  ${report.session_id}: ${report.events} events, ${head}`);
  } else if (report.first_bad !== null) {
    lines.push(
      `${c.red('✘ broken')}  ${report.session_id}: first bad link at seq ${report.first_bad.seq} (${report.first_bad.kind})`,
    );
    lines.push(`  ${report.first_bad.message}`);
  } else if (report.rejected_checkpoints.length > 0) {
    lines.push(
      `${c.red('✘ not verified')}  ${report.session_id}: a checkpoint naming it was forged or altered (below)`,
    );
  } else {
    lines.push(`${c.red('✘ not verified')}  ${report.session_id}: the signed checkpoint does not hold`);
  }
  const cp = report.checkpoint;
  if (cp.status === 'none')
    lines.push(
      c.dim(
        '  no signed checkpoint covers this session yet: its newest events, deleted from the session index as well as the events table, could go undetected',
      ),
    );
  else if (cp.status === 'verified')
    lines.push(
      `  checkpoint ${c.green('verified')}: signed ${cp.signed_at} by key ${cp.kid.slice(0, 12)}, head seq ${cp.head.seq} present`,
    );
  else if (cp.status === 'head_mismatch')
    lines.push(
      `  checkpoint signed ${cp.signed_at} commits to seq ${cp.head.seq} (${short(cp.head.hash)}), ${c.red('which the stored chain no longer holds')}`,
    );
  else if (cp.status === 'invalid_signature')
    lines.push(
      `  checkpoint ${cp.stream}#${cp.seq} ${c.red('signature does not verify')}: the checkpoint itself was altered or forged`,
    );
  else
    lines.push(
      `  checkpoint ${cp.stream}#${cp.seq} ${c.yellow('signed by an unknown key')} (${cp.kid}): not judged`,
    );
  const reasons = {
    invalid_signature: 'its signature does not verify',
    not_signed: 'its signed payload does not name this session',
    redated: 'its ts is not when it was signed (moved in time)',
  } as const;
  for (const rejected of report.rejected_checkpoints)
    lines.push(
      `  checkpoint ${rejected.stream}#${rejected.seq} (${rejected.ts}) ${c.red('refused')}: ${reasons[rejected.reason]}`,
    );
  return lines.join('\n');
}
