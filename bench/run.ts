/**
 * `npm run bench [-- --quick] [-- --only name,name]`: runs every benchmark in this folder one after
 * another, each in a process of its own (one benchmark alone runs in this process), prints each
 * table with its notes, and merges the results into `bench/results.json` (per benchmark: date,
 * machine, rows, notes) for BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bench, BenchResult } from './bench-types.js';

const SUITES: Record<string, string> = {
  'eventlog-append': './eventlog-append.ts',
  'policy-decide': './policy-decide.ts',
  'projector-throughput': './projector-throughput.ts',
  'gateway-latency': './gateway-latency.ts',
  'kafka-append': './kafka-append.ts',
  'kafka-end-to-end': './kafka-end-to-end.ts',
  'query-latency': './query-latency.ts',
};

function printTable(result: BenchResult): void {
  console.log(`\n## ${result.title}`);
  const columns = [...new Set(result.rows.flatMap((row) => Object.keys(row)))];
  const cells = result.rows.map((row) => columns.map((c) => String(row[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(columns));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of cells) console.log(line(row));
  console.log(`peak RSS: ${result.peakRssMiB.toFixed(0)} MiB`);
  for (const note of result.notes) console.log(`- ${note}`);
}

type Recorded = Record<string, BenchResult & { date?: string; machine?: Record<string, unknown> }>;

async function readPrevious(file: string): Promise<Recorded> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { results?: Recorded };
    return parsed.results ?? {};
  } catch {
    return {};
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const onlyIndex = args.indexOf('--only');
  const only = onlyIndex >= 0 ? (args[onlyIndex + 1] ?? '').split(',') : Object.keys(SUITES);
  const unknown = only.filter((name) => !(name in SUITES));
  if (unknown.length > 0) {
    console.error(
      `error: --only: unknown benchmark(s) ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}`,
    );
    process.exit(2);
  }
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
  console.log(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, node ${machine.node}`,
  );
  if (only.length > 1) {
    // Each benchmark in a process of its own, one after another: a benchmark then never inherits the
    // heap, the loaded native modules or the garbage of the ones before it (an earlier full run in one
    // process measured the gateway's p99 at +15.7 ms where the same benchmark alone gave +6.2 ms).
    // Each child merges its own results into the results file.
    const failed: string[] = [];
    for (const name of only) {
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
        (resolve, reject) => {
          const child = spawn(
            process.execPath,
            [
              '--import',
              'tsx',
              fileURLToPath(import.meta.url),
              ...(quick ? ['--quick'] : []),
              '--only',
              name,
            ],
            { stdio: 'inherit' },
          );
          child.on('error', reject);
          child.on('exit', (code, signal) => resolve({ code, signal }));
        },
      );
      if (exit.code !== 0) {
        console.error(
          `error: benchmark ${name} failed (${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`}); running the others`,
        );
        failed.push(name);
      }
    }
    if (failed.length > 0) {
      console.error(`error: ${failed.join(', ')} failed; the results file holds the others`);
      process.exit(1);
    }
    process.exit(0);
  }
  const results: Record<string, BenchResult> = {};
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const name of only) {
    const started = Date.now();
    const progress = (message: string) =>
      console.log(`[${name} +${((Date.now() - started) / 1000).toFixed(0)}s] ${message}`);
    progress('starting');
    const mod = (await import(path.join(here, SUITES[name]!))) as { run: Bench };
    const result = await mod.run({ quick, progress });
    results[name] = result;
    printTable(result);
  }
  // Merged by benchmark: `--only` replaces the results it ran and keeps the others, each with the
  // date and machine it was measured on.
  const out = path.join(here, quick ? 'results.quick.json' : 'results.json');
  const previous = await readPrevious(out);
  const date = new Date().toISOString();
  for (const [name, result] of Object.entries(results)) previous[name] = { date, machine, ...result };
  await writeFile(out, `${JSON.stringify({ quick, results: previous }, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
  process.exit(0);
}

await main();
