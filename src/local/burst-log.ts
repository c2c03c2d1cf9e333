import type { Clock, TimerHandle } from '../time/clock.js';

/**
 * One log line for a burst of the same event (a refused connection), however many there are:
 * the first is logged at once, then at the end of each `intervalMs` one line with how many
 * happened in it. An interval with none ends the burst, so the next one is logged at once again.
 * A client that reconnects in a tight loop costs the journal one line per interval, not one per
 * attempt.
 *
 *     quiet ──hit()──▶ log(1), counting ──interval ends, n > 0──▶ log(n), counting
 *       ▲                                  │
 *       └──────── interval ends, n = 0 ────┘
 */
export interface BurstLogOptions {
  intervalMs: number;
  clock: Clock;
  /** Writes the line for `count` events (1 for the first of a burst). */
  log: (count: number) => void;
}

export class BurstLog {
  readonly #o: BurstLogOptions;
  #timer: TimerHandle | null = null;
  #count = 0;

  constructor(options: BurstLogOptions) {
    this.#o = options;
  }

  hit(): void {
    if (this.#timer !== null) {
      this.#count++;
      return;
    }
    this.#o.log(1);
    this.#startInterval();
  }

  /** Logs what was counted and not yet said; the next hit starts a new burst. */
  stop(): void {
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#flush();
  }

  #startInterval(): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null;
      if (this.#flush()) this.#startInterval();
    }, this.#o.intervalMs);
    this.#timer.unref?.();
  }

  #flush(): boolean {
    if (this.#count === 0) return false;
    const count = this.#count;
    this.#count = 0;
    this.#o.log(count);
    return true;
  }
}
