import type { Clock, TimerHandle } from '../time/clock.js';

/**
 * A device's messages worth this many bytes are acknowledged at once, whatever the interval:
 * an agent sending from memory keeps the unacknowledged ones there (its command output waits
 * at 2 MiB), so at output speed an ack every 200 ms would come too late.
 */
export const ACK_BYTES = 512 * 1024;

/**
 * The hub's acknowledgements to one device link: cumulative, and at most one per `intervalMs`
 * (the first at once, or at the end of the current turn with `afterTurn`; the rest at the end of
 * the interval, carrying the highest seq by then).
 * A busy device gets a few acks a second, a quiet one an ack right after each message.
 *
 * With `maxBytes`, messages worth that many bytes since the last ack are acknowledged at once:
 * an agent keeps what it sent in memory until it is acknowledged (and writes it to disk if that
 * takes long), so a fast stream of output needs acks by volume, not only by time.
 */
export interface AckBatcherOptions {
  intervalMs: number;
  maxBytes?: number;
  clock: Clock;
  send: (seq: number) => void;
  /**
   * Runs a function after the current turn of the event loop (setImmediate). With it, the ack
   * that would go at once waits for the end of the turn instead, so the frames of one read (an
   * agent's telemetry tick: a frame per stream) share one ack rather than the first getting
   * its own and the rest another at the end of the interval.
   */
  afterTurn?: (run: () => void) => void;
}

export class AckBatcher {
  readonly #o: AckBatcherOptions;
  #highest = -1;
  #lastSentAt = -Infinity;
  #bytesSinceAck = 0;
  #timer: TimerHandle | null = null;
  /** An ack waits for the end of the current turn (afterTurn). */
  #turnQueued = false;

  constructor(options: AckBatcherOptions) {
    this.#o = options;
  }

  /** `seq` (of `bytes`) has been processed (or was a duplicate of a processed one). */
  note(seq: number, bytes = 0): void {
    this.#highest = Math.max(this.#highest, seq);
    this.#bytesSinceAck += bytes;
    if (this.#o.maxBytes !== undefined && this.#bytesSinceAck >= this.#o.maxBytes) {
      this.flushPending();
      if (this.#bytesSinceAck > 0) this.#flush(); // no timer was waiting: ack now all the same
      return;
    }
    if (this.#timer || this.#turnQueued) return;
    const wait = this.#lastSentAt + this.#o.intervalMs - this.#o.clock.now();
    if (wait > 0) this.#timer = this.#o.clock.setTimeout(() => this.#flush(), wait);
    else if (this.#o.afterTurn) {
      this.#turnQueued = true;
      this.#o.afterTurn(() => {
        if (this.#turnQueued) this.#flush();
      });
    } else this.#flush();
  }

  /** Sends now what waits for the end of the interval, if anything does. */
  flushPending(): void {
    if (this.#turnQueued) {
      this.#flush();
      return;
    }
    if (!this.#timer) return;
    this.#o.clock.clearTimeout(this.#timer);
    this.#flush();
  }

  stop(): void {
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#turnQueued = false;
  }

  #flush(): void {
    this.#timer = null;
    this.#turnQueued = false;
    this.#bytesSinceAck = 0;
    // A duplicate of something already acked is answered again: its ack may have been lost.
    this.#lastSentAt = this.#o.clock.now();
    this.#o.send(this.#highest);
  }
}
