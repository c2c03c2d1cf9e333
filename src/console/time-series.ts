/**
 * The recent samples of one telemetry stream, as the two parallel arrays uPlot draws (x in
 * seconds). Bounded twice, so a console left open for months holds the same memory as one
 * opened a minute ago: points older than the window go, and so do the oldest beyond capacity.
 */
export interface TimeSeriesOptions {
  windowMs: number;
  capacity: number;
}

export class TimeSeries {
  readonly #xs: number[] = [];
  readonly #ys: number[] = [];
  readonly #o: TimeSeriesOptions;

  constructor(options: TimeSeriesOptions) {
    this.#o = options;
  }

  get length(): number {
    return this.#xs.length;
  }

  get latest(): number | undefined {
    return this.#ys[this.#ys.length - 1];
  }

  /** Adds a sample; one older than the newest (a late frame) is dropped, since x must rise. */
  push(tsMs: number, value: number): boolean {
    if (!Number.isFinite(tsMs) || !Number.isFinite(value)) return false;
    const x = tsMs / 1000;
    const last = this.#xs[this.#xs.length - 1];
    if (last !== undefined && x <= last) return false;
    this.#xs.push(x);
    this.#ys.push(value);
    const cutoff = x - this.#o.windowMs / 1000;
    let drop = Math.max(0, this.#xs.length - this.#o.capacity);
    while (drop < this.#xs.length && (this.#xs[drop] as number) < cutoff) drop++;
    if (drop > 0) {
      this.#xs.splice(0, drop);
      this.#ys.splice(0, drop);
    }
    return true;
  }

  /** The arrays uPlot reads (not copies: draw before the next push). */
  data(): [number[], number[]] {
    return [this.#xs, this.#ys];
  }

  clear(): void {
    this.#xs.length = 0;
    this.#ys.length = 0;
  }
}
