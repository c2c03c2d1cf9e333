/**
 * One shape for every benchmark figure, so `npm run bench` can put them in one table.
 *
 * A bench script prints its own human report as before and, when `BENCH_RESULTS` names a file,
 * also appends its rows there as JSON lines. The aggregator (bench/run-all.ts) sets that
 * variable, runs each script as a child process and reads the rows back.
 */
import { appendFileSync } from 'node:fs';

export interface PeerFigure {
  /** The peer program, e.g. `collectd`, `ssh (ControlMaster)`. */
  name: string;
  /** Its figure in the row's unit, or null when it could not run (then `note` says why). */
  value: number | null;
  note?: string;
}

export interface BenchRow {
  /** What is measured, e.g. `telemetry CPU per sample (cpu+memory+temperature)`. */
  figure: string;
  unit: string;
  /** Whether a smaller figure is better (costs, latencies) or a larger one (rates). */
  better: 'lower' | 'higher';
  ours: number;
  /** The floor measured in the same run, and what it is. */
  floor: number | null;
  floorName: string;
  peer?: PeerFigure;
  note?: string;
}

/**
 * How many times worse than the floor: ours/floor for costs, floor/ours for rates, so 1.0 is
 * "as good as the floor" and 1.5 reads the same way for a latency and a throughput.
 */
export function timesFloor(row: Pick<BenchRow, 'ours' | 'floor' | 'better'>): number | null {
  if (row.floor === null || row.floor <= 0 || row.ours <= 0) return null;
  return row.better === 'lower' ? row.ours / row.floor : row.floor / row.ours;
}

/** Appends rows to `$BENCH_RESULTS` when the aggregator asked for them; a no-op otherwise. */
export function reportRows(rows: BenchRow[], env: NodeJS.ProcessEnv = process.env): void {
  const target = env.BENCH_RESULTS;
  if (!target) return;
  appendFileSync(target, rows.map((row) => JSON.stringify(row) + '\n').join(''));
}
