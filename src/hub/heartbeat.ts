import type { Clock, TimerHandle } from '../time/clock.js';

/**
 * The hub's side of the heartbeat (the agent's is src/agent/heartbeat.ts), as the platform
 * docs describe it: "The server sends a ping every 30 seconds. If no pong is received within
 * 10 seconds, the connection is closed." A ping every `intervalMs`; a peer whose pong has not
 * arrived within `timeoutMs` of a ping is stale, and `onStale` runs once (the owner closes the
 * connection with CloseCode.noPong, and terminates it when the close does not complete in time).
 *
 *     start ─interval─▶ ping ─timeout─▶ pong since? ── yes ─▶ (next ping, one interval after the last)
 *                                          └─ no ─▶ onStale (stopped)
 *
 * Only a pong answers: a peer that sends frames but never pongs does not follow the protocol
 * (its pings go unanswered too, whatever it says), and frames in flight must not hide a peer
 * that stopped reading. `pong()` only sets a flag, so it costs no timer churn; one timer is
 * armed at a time.
 */
export interface HeartbeatOptions {
  intervalMs: number;
  timeoutMs: number;
  clock: Clock;
  sendPing: () => void;
  onStale: () => void;
}

export class Heartbeat {
  readonly #o: HeartbeatOptions;
  #timer: TimerHandle | null = null;
  #answered = true;
  #running = false;

  constructor(options: HeartbeatOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm(this.#o.intervalMs, () => this.#ping());
  }

  /** A pong arrived: the last ping, if any, is answered. */
  pong(): void {
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
