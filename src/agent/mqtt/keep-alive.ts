import type { Clock, TimerHandle } from '../../time/clock.js';

/**
 * MQTT's keep-alive from the client's side (spec §3.1.2.10): when we have sent nothing for the
 * keep-alive interval, a PINGREQ goes out; when nothing at all comes back within one more
 * interval, the link is stale and the client ends it (never a graceful close on a dead link).
 * Writes only stamp the time (no timer reset per packet): the timer, when it fires early, waits
 * out the rest of the interval.
 */
export interface KeepAliveOptions {
  clock: Clock;
  intervalMs: number;
  sendPing(): void;
  onStale(): void;
}

export class KeepAlive {
  readonly #o: KeepAliveOptions;
  #lastSentAt = 0;
  #pingTimer: TimerHandle | null = null;
  #staleTimer: TimerHandle | null = null;

  constructor(options: KeepAliveOptions) {
    this.#o = options;
  }

  start(): void {
    this.#lastSentAt = this.#o.clock.now();
    this.#armPing(this.#o.intervalMs);
  }

  /** A packet went out: the broker has heard from us. */
  sent(): void {
    this.#lastSentAt = this.#o.clock.now();
  }

  /** A packet came in: the broker is alive. */
  received(): void {
    if (this.#staleTimer) this.#o.clock.clearTimeout(this.#staleTimer);
    this.#staleTimer = null;
  }

  stop(): void {
    this.received();
    if (this.#pingTimer) this.#o.clock.clearTimeout(this.#pingTimer);
    this.#pingTimer = null;
  }

  #armPing(ms: number): void {
    this.#pingTimer = this.#o.clock.setTimeout(() => this.#due(), ms);
    this.#pingTimer.unref?.();
  }

  #due(): void {
    const { clock, intervalMs } = this.#o;
    const silentMs = clock.now() - this.#lastSentAt;
    if (silentMs < intervalMs) {
      this.#armPing(intervalMs - silentMs);
      return;
    }
    this.#armPing(intervalMs);
    if (this.#staleTimer) return; // already waiting for an answer to an earlier ping
    this.#staleTimer = clock.setTimeout(() => {
      this.#staleTimer = null;
      this.stop();
      this.#o.onStale();
    }, intervalMs);
    this.#staleTimer.unref?.();
    this.#o.sendPing();
  }
}
