/**
 * Delivery delays, counted per whole millisecond. Both ends of a delay are whole milliseconds
 * (Date.now() at arrival, the sample's ISO `ts`), so counting them per millisecond loses
 * nothing: percentiles are the same as over the raw list, while the stream clients of several
 * hubs send the run a few thousand counts each instead of a million numbers, and the run merges
 * them into one distribution.
 */
export type DelayCounts = [delayMs: number, count: number][];

export class DelayHistogram {
  readonly #counts = new Map<number, number>();
  #total = 0;

  record(delayMs: number): void {
    const ms = Math.round(delayMs);
    this.#counts.set(ms, (this.#counts.get(ms) ?? 0) + 1);
    this.#total++;
  }

  /** Adds the counts of another histogram (another stream client's). */
  merge(counts: DelayCounts): void {
    for (const [ms, count] of counts) {
      this.#counts.set(ms, (this.#counts.get(ms) ?? 0) + count);
      this.#total += count;
    }
  }

  get total(): number {
    return this.#total;
  }

  counts(): DelayCounts {
    return [...this.#counts];
  }

  /** Nearest rank, as `percentile` over the raw delays (bench/lib/proc-stats.ts); NaN if empty. */
  percentile(p: number): number {
    if (this.#total === 0) return Number.NaN;
    const rank = Math.min(this.#total - 1, Math.floor((p / 100) * this.#total));
    let below = 0;
    for (const [ms, count] of [...this.#counts].sort((a, b) => a[0] - b[0])) {
      below += count;
      if (below > rank) return ms;
    }
    return Number.NaN; // not reached: the counts add up to the total
  }

  max(): number {
    let max = 0;
    for (const ms of this.#counts.keys()) max = Math.max(max, ms);
    return max;
  }
}
