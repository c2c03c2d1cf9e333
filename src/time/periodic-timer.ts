import type { Clock, TimerHandle } from './clock.js';

/**
 * Ticks at anchor + k × interval, not "interval after the last tick": each timer is armed for
 * the next slot on the grid, so the lateness of one timer (event loop busy, a slow read) is not
 * carried into the next and a year of samples does not drift. Slots missed entirely (the
 * process was stopped, the system slept) are skipped, never fired in a burst.
 *
 *     stopped ──start(interval, firstDelay)──▶ running ──stop()──▶ stopped
 *                      ▲                          │
 *                      └──── start() again: re-anchored at now + firstDelay
 */
export class PeriodicTimer {
  readonly #clock: Clock;
  readonly #onTick: () => void;
  #timer: TimerHandle | null = null;
  #anchor = 0;
  #intervalMs = 0;
  #slot = 0;
  #skipped = 0;

  constructor(clock: Clock, onTick: () => void) {
    this.#clock = clock;
    this.#onTick = onTick;
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** Slots skipped because the process could not run when they were due. */
  get skipped(): number {
    return this.#skipped;
  }

  start(intervalMs: number, firstDelayMs: number): void {
    if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${intervalMs}`);
    this.stop();
    this.#intervalMs = intervalMs;
    this.#anchor = this.#clock.now() + Math.max(0, firstDelayMs);
    this.#slot = 0;
    this.#arm();
  }

  stop(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(): void {
    const due = this.#anchor + this.#slot * this.#intervalMs;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), due - this.#clock.now());
    this.#timer.unref?.();
  }

  #fire(): void {
    const now = this.#clock.now();
    // The slot this tick belongs to; a timer more than an interval late skips the ones between.
    const slot = Math.max(this.#slot, Math.floor((now - this.#anchor) / this.#intervalMs));
    this.#skipped += slot - this.#slot;
    this.#slot = slot + 1;
    this.#arm();
    this.#onTick();
  }
}
