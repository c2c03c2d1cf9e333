import type { Clock, TimerHandle } from '../time/clock.js';

/**
 * The hub's side of the heartbeat, as the platform docs describe it: a ping every
 * `intervalMs`; a peer from which nothing at all (pong, ping or frame) has arrived within
 * `timeoutMs` of a ping is stale, and `onStale` runs once (the owner terminates the socket: a
 * graceful close would only wait on a peer that is gone).
 *
 *     start ─interval─▶ ping ─timeout─▶ answered? ── yes ─▶ (next ping, one interval after the last)
 *                                          └─ no ─▶ onStale (stopped)
 *
 * `touch()` only sets a flag, so a busy link costs no timer churn; one timer is armed at a time.
 */
export interface LivenessOptions {
  intervalMs: number;
  timeoutMs: number;
  clock: Clock;
  sendPing: () => void;
  onStale: () => void;
}

export class Liveness {
  readonly #o: LivenessOptions;
  #timer: TimerHandle | null = null;
  #answered = true;
  #running = false;

  constructor(options: LivenessOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm(this.#o.intervalMs, () => this.#ping());
  }

  /** Something arrived from the peer: it is alive. */
  touch(): void {
    this.#answered = true;
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #ping(): void {
    this.#answered = false;
    this.#o.sendPing();
    this.#arm(this.#o.timeoutMs, () => this.#check());
  }

  #check(): void {
    if (!this.#answered) {
      this.stop();
      this.#o.onStale();
      return;
    }
    this.#arm(Math.max(0, this.#o.intervalMs - this.#o.timeoutMs), () => this.#ping());
  }

  #arm(ms: number, fn: () => void): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null;
      if (this.#running) fn();
    }, ms);
    this.#timer.unref?.();
  }
}
