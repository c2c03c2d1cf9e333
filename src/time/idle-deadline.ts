import type { Clock, TimerHandle } from './clock.js';

/**
 * Ends something after `idleMs` without activity. Activity only records the time: re-arming a
 * timer for every chunk of a transfer would cost two timer-list operations on the hot path. One
 * timer runs to the deadline and, finding activity since, re-arms for what is left. `idleMs` 0
 * never fires.
 */
export class IdleDeadline {
  readonly #clock: Clock;
  readonly #idleMs: number;
  readonly #onIdle: () => void;
  #lastActivity: number;
  #timer: TimerHandle | null = null;
  #stopped = false;

  constructor(clock: Clock, idleMs: number, onIdle: () => void) {
    this.#clock = clock;
    this.#idleMs = idleMs;
    this.#onIdle = onIdle;
    this.#lastActivity = clock.now();
  }

  /** Starts the count (from now); call once. */
  start(): void {
    this.touch();
  }

  touch(): void {
    if (this.#idleMs <= 0 || this.#stopped) return;
    this.#lastActivity = this.#clock.now();
    if (!this.#timer) this.#arm(this.#idleMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#check(), ms);
    this.#timer.unref?.();
  }

  #check(): void {
    this.#timer = null;
    if (this.#stopped) return;
    const left = this.#lastActivity + this.#idleMs - this.#clock.now();
    if (left > 0) return this.#arm(left);
    this.#stopped = true;
    this.#onIdle();
  }
}
