import type { Clock, TimerHandle } from '../time/clock.js';

/**
 * Detects a dead link. Any traffic (ping, pong, message) calls `touch()`. When the line has
 * been quiet for `intervalMs` we send our own ping; when nothing at all has arrived for
 * `intervalMs + timeoutMs` the link is stale and `onStale` runs (the owner terminates the
 * socket: a graceful close on a dead link would just wait for a peer that is gone).
 *
 * `touch()` only records a time, so a busy link costs no timer churn; one timer re-arms itself
 * at the next deadline. The hub's side of the same exchange (src/hub/heartbeat.ts) counts only
 * pongs, as the platform docs ask of a server.
 */
export interface HeartbeatOptions {
  intervalMs: number;
  timeoutMs: number;
  clock: Clock;
  sendPing: () => void;
  onStale: () => void;
}

export class Heartbeat {
  readonly #options: HeartbeatOptions;
  #lastActivity = 0;
  #pinged = false;
  #timer: TimerHandle | null = null;

  constructor(options: HeartbeatOptions) {
    this.#options = options;
  }

  start(): void {
    this.#lastActivity = this.#options.clock.now();
    this.#pinged = false;
    this.#arm(this.#options.intervalMs);
  }

  touch(): void {
    this.#lastActivity = this.#options.clock.now();
    this.#pinged = false;
  }

  stop(): void {
    if (this.#timer) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(ms: number): void {
    this.#timer = this.#options.clock.setTimeout(() => this.#check(), Math.max(0, ms));
    this.#timer.unref?.();
  }

  #check(): void {
    this.#timer = null;
    const { intervalMs, timeoutMs, clock } = this.#options;
    const idle = clock.now() - this.#lastActivity;
    if (idle >= intervalMs + timeoutMs) {
      this.#options.onStale();
      return;
    }
    if (idle >= intervalMs) {
      if (!this.#pinged) {
        this.#pinged = true;
        this.#options.sendPing();
      }
      this.#arm(intervalMs + timeoutMs - idle);
      return;
    }
    this.#arm(intervalMs - idle);
  }
}
