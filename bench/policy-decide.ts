/**
 * Policy decisions: the compiled decision table (`Policy.decide`) against Casbin's `enforce`, side
 * by side, for synthetic policies of 50, 200 and 1,000 lines (80% `p` lines, 20% `g` lines with
 * role chains; subjects spread over 20 agents, 100 users, 12 roles and `*`; patterns exact,
 * `<server>__*` or `<server>__<prefix>*`; 10% deny). The catalog has 10 servers × 20 tools.
 *
 * Columns: load ms (validate + Casbin enforcer + role resolution + table), Casbin `enforce`
 * decisions/s for one subject (an effective agent-for-user decision needs two), `decide`/s on a
 * working set of 200 (agent, user) pairs × 200 tools (memoized), `decide`/s when every call names
 * a tool never seen before (the compiled rule list is scanned every time: the worst case), and
 * `visibleTools` over the 200-tool catalog per second. Every `enforce` answer is also checked
 * against `decide` for the same subject; a mismatch is reported in the notes.
 */
import { loadPolicy, type Policy, type PolicyRule, type RoleAssignment } from '@gatehouse/policy';
import type { Bench, BenchResult } from './bench-types.js';

const SIZES = [50, 200, 1000];
const AGENTS = Array.from({ length: 20 }, (_, i) => `agent-${i}`);
const USERS = Array.from({ length: 100 }, (_, i) => `user-${i}`);
const ROLES = Array.from({ length: 12 }, (_, i) => `role:team-${i}`);
const SERVERS = Array.from({ length: 10 }, (_, i) => `srv${i}`);
const VERBS = ['list', 'read', 'write', 'delete', 'export'];
const TOOLS = SERVERS.flatMap((s) =>
  Array.from({ length: 20 }, (_, i) => `${s}__${VERBS[i % VERBS.length]}_${Math.floor(i / VERBS.length)}`),
);

/** Deterministic PRNG (mulberry32) so every run benchmarks the same policies. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function syntheticPolicy(lines: number, seed: number): { rules: PolicyRule[]; roles: RoleAssignment[] } {
  const random = prng(seed);
  const rules = new Map<string, PolicyRule>();
  const roles = new Map<string, RoleAssignment>();
  const pLines = Math.round(lines * 0.8);
  while (rules.size < pLines) {
    const kind = random();
    const subject =
      kind < 0.3
        ? `agent:${pick(random, AGENTS)}`
        : kind < 0.6
          ? `user:${pick(random, USERS)}`
          : kind < 0.97
            ? pick(random, ROLES)
            : '*';
    const shape = random();
    const server = pick(random, SERVERS);
    const pattern =
      shape < 0.5
        ? pick(random, TOOLS)
        : shape < 0.8
          ? `${server}__*`
          : `${server}__${pick(random, VERBS)}_*`;
    const rule: PolicyRule = [subject, pattern, random() < 0.1 ? 'deny' : 'allow'];
    rules.set(rule.join('\u0000'), rule);
  }
  while (roles.size < lines - pLines) {
    let line: RoleAssignment;
    if (random() < 0.75) {
      line = [
        random() < 0.5 ? `user:${pick(random, USERS)}` : `agent:${pick(random, AGENTS)}`,
        pick(random, ROLES),
      ];
    } else {
      // role → role only "upwards" (team-i → team-j, i < j): chains, never cycles.
      const i = Math.floor(random() * (ROLES.length - 1));
      const j = i + 1 + Math.floor(random() * Math.min(3, ROLES.length - 1 - i));
      line = [ROLES[i]!, ROLES[j]!];
    }
    roles.set(line.join('\u0000'), line);
  }
  return { rules: [...rules.values()], roles: [...roles.values()] };
}

/** Runs `step` until `budgetMs` has passed (checking the clock every `batch` steps); returns steps/s. */
async function rate(
  budgetMs: number,
  batch: number,
  step: (i: number) => unknown,
): Promise<{ perSec: number; count: number }> {
  let count = 0;
  const started = performance.now();
  let elapsed: number;
  do {
    for (let k = 0; k < batch; k++) await step(count++);
    elapsed = performance.now() - started;
  } while (elapsed < budgetMs);
  return { perSec: count / (elapsed / 1000), count };
}

function syncRate(budgetMs: number, batch: number, step: (i: number) => unknown): number {
  let count = 0;
  const started = performance.now();
  let elapsed: number;
  do {
    for (let k = 0; k < batch; k++) step(count++);
    elapsed = performance.now() - started;
  } while (elapsed < budgetMs);
  return count / (elapsed / 1000);
}

export const run: Bench = async ({ quick, progress }) => {
  const budgetMs = quick ? 300 : 2000;
  const rows: BenchResult['rows'] = [];
  const notes: string[] = [];
  let peakRss = process.memoryUsage().rss;
  const sampleRss = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };

  for (const lines of SIZES) {
    const config = syntheticPolicy(lines, lines);
    const t0 = performance.now();
    const policy: Policy = await loadPolicy(config, { source: `bench:${lines}` });
    const loadMs = performance.now() - t0;
    sampleRss();

    const random = prng(7 + lines);
    const subjects = Array.from({ length: 256 }, () => pick(random, AGENTS));
    const tools = Array.from({ length: 256 }, () => pick(random, TOOLS));
    let mismatches = 0;
    progress(`${lines} lines: Casbin enforce`);
    const enforce = await rate(budgetMs, 4, async (i) => {
      const agent = subjects[i % subjects.length]!;
      const tool = tools[(i * 7) % tools.length]!;
      const allowed = await policy.enforcer.enforce(`agent:${agent}`, tool);
      if (allowed !== policy.decide(agent, null, tool).allowed) mismatches += 1;
    });
    sampleRss();

    progress(`${lines} lines: decide (memoized working set)`);
    const pairs = Array.from(
      { length: 200 },
      () => [pick(random, AGENTS), random() < 0.2 ? null : pick(random, USERS)] as const,
    );
    const catalog = TOOLS;
    const memoized = syncRate(budgetMs, 10_000, (i) => {
      const [agent, user] = pairs[i % pairs.length]!;
      return policy.decide(agent, user, catalog[(i >>> 3) % catalog.length]!);
    });
    sampleRss();

    progress(`${lines} lines: decide (new tool name every call)`);
    const fresh = syncRate(budgetMs, 2_000, (i) => {
      const [agent, user] = pairs[i % pairs.length]!;
      return policy.decide(agent, user, `${SERVERS[i % SERVERS.length]}__${VERBS[i % VERBS.length]}_${i}`);
    });
    sampleRss();

    progress(`${lines} lines: visibleTools`);
    const listing = syncRate(budgetMs, 50, (i) => {
      const [agent, user] = pairs[i % pairs.length]!;
      return policy.visibleTools(agent, user, catalog);
    });
    sampleRss();

    if (mismatches > 0)
      notes.push(
        `${lines} lines: ${mismatches} of ${enforce.count} decide answers disagreed with enforce — a bug`,
      );
    rows.push({
      'policy lines': lines,
      'load ms': Number(loadMs.toFixed(1)),
      'casbin enforce/s': Math.round(enforce.perSec),
      'decide/s (memoized)': Math.round(memoized),
      'decide/s (new tool each call)': Math.round(fresh),
      'visibleTools(200)/s': Math.round(listing),
      'speed-up (memoized)': `${Math.round(memoized / enforce.perSec).toLocaleString('en-US')}×`,
    });
  }

  notes.push(
    'enforce/s is for one subject; an agent-for-user decision needs two enforce calls, decide makes it in one',
    `every enforce answer was compared with decide for the same subject: ${notes.some((n) => n.includes('disagreed')) ? 'MISMATCHES (see above)' : 'all agreed'}`,
    `decide never calls Casbin (differential and spy tests in packages/policy/test); budget ${budgetMs} ms per measurement${quick ? ' (quick)' : ''}`,
  );
  return {
    title: 'Policy decisions: compiled table vs Casbin enforce',
    rows,
    peakRssMiB: peakRss / 2 ** 20,
    notes,
  };
};
