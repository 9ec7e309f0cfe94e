/**
 * The shape every benchmark module in `bench/` exports. `bench/run.ts` runs them one after another,
 * each in a process of its own, prints each table, and writes `bench/results.json`.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface BenchOptions {
  /** Smaller workloads (CI smoke runs, `npm run bench -- --quick`). */
  quick: boolean;
  /** Prints a progress line; long phases call it at least every few seconds. */
  progress: (message: string) => void;
}

export interface BenchResult {
  /** Heading of the table, e.g. "Embedded log: durable appends". */
  title: string;
  /** One row per configuration; keys are column names, values already rounded for display. */
  rows: Record<string, string | number>[];
  /** Peak resident set size of the process during this benchmark, in MiB. */
  peakRssMiB: number;
  /** Targets and how the figures compare ("target ≥ 50,000/s at 256: met"). */
  notes: string[];
}

export type Bench = (options: BenchOptions) => Promise<BenchResult>;

/**
 * The child-process side of a benchmark that needs a process of its own (chDB binds one data dir
 * per process): when `envVar` is `1` and this module (`file`, its `import.meta.url` path) is the
 * entry point, runs `child` and exits 0, or prints the error as `<label>: …` and exits 1.
 */
export function runIfChild(envVar: string, file: string, label: string, child: () => Promise<void>): void {
  const entry = process.argv[1];
  if (process.env[envVar] !== '1' || entry === undefined || path.resolve(entry) !== file) return;
  child().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${label}: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
}

/**
 * The parent side of `runIfChild`: runs `file` in a new process with `envVar=1` and `env`, relays
 * its `progress …` stdout lines to `progress`, and resolves with the first stdout line that is a
 * JSON object (the child's result). Rejects, naming `label`, when the child fails or prints none.
 */
export function runChild<T>(
  file: string,
  envVar: string,
  label: string,
  env: Record<string, string>,
  progress: (message: string) => void = () => undefined,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, [envVar]: '1', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const rest = onLines(child.stdout, (line) => {
      if (line.startsWith('progress ')) progress(line.slice('progress '.length));
      else out += `${line}\n`;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      out += rest();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) reject(new TypeError(`${label} exited with ${code}: ${out}`));
      else resolve(JSON.parse(line) as T);
    });
  });
}

/**
 * Calls `onLine` for each complete line a child writes to `stream` (UTF-8); the returned function
 * gives the unterminated rest.
 */
export function onLines(stream: Readable, onLine: (line: string) => void): () => string {
  let buffered = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  return () => buffered;
}

/**
 * User + system CPU of a process so far, in ms, from /proc/PID/stat (clock ticks of 10 ms); NaN
 * where unreadable (not Linux, or the process is gone).
 */
export async function cpuMsOfPid(pid: number | string): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // utime and stime, fields 14 and 15 of stat, are 12th and 13th after the command name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}
