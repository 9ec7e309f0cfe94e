/**
 * The shape every benchmark module in `bench/` exports. `bench/run.ts` runs them one after another
 * in one process, prints each table, and writes `bench/results.json`.
 */
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
