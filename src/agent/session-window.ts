import { INPUT_REPORT_BYTES, SESSION_WINDOW_BYTES } from '../protocol/sessions.js';

/**
 * Per-session flow control of the sessions that move bulk bytes (docs/protocol.md, "Sessions"):
 * each session has its own window both ways, so one slow reader stalls its own session only,
 * never the link, the other sessions or telemetry.
 */

/**
 * Output the client has not yet acknowledged (`session_ack`): the session sends while `open`,
 * stops reading its source when it closes, and reads again on `onOpen`.
 */
export class OutputWindow {
  readonly #limit: number;
  #sent = 0;
  #acked = 0;
  readonly #listeners = new Set<() => void>();

  constructor(limit = SESSION_WINDOW_BYTES) {
    this.#limit = limit;
  }

  get open(): boolean {
    return this.#sent - this.#acked < this.#limit;
  }

  /** Bytes sent and not yet acknowledged. */
  get inFlight(): number {
    return this.#sent - this.#acked;
  }

  get sentBytes(): number {
    return this.#sent;
  }

  sent(bytes: number): void {
    this.#sent += bytes;
  }

  /**
   * The client's cumulative count. A count beyond what was sent, or behind an earlier one, is
   * clamped: a confused client cannot open the window wider than the bytes really sent.
   */
  acked(total: number): void {
    const before = this.open;
    this.#acked = Math.max(this.#acked, Math.min(total, this.#sent));
    if (!before && this.open) for (const listener of [...this.#listeners]) listener();
  }

  /** Runs `listener` each time the window opens again; returns the unsubscribe. */
  onOpen(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * Input the session has taken (written to its file or socket), reported as cumulative
 * `input_consumed` at least every INPUT_REPORT_BYTES and whenever it has caught up with what
 * arrived, so the client's window moves on.
 */
export class InputReport {
  readonly #report: (bytes: number) => void;
  readonly #every: number;
  #received = 0;
  #taken = 0;
  #reported = 0;

  /** `report` sends `input_consumed` { bytes } for the session. */
  constructor(report: (bytes: number) => void, every = INPUT_REPORT_BYTES) {
    this.#report = report;
    this.#every = every;
  }

  /** Input not yet taken (held by the session): bounded by the client's window. */
  get pending(): number {
    return this.#received - this.#taken;
  }

  get takenBytes(): number {
    return this.#taken;
  }

  received(bytes: number): void {
    this.#received += bytes;
  }

  taken(bytes: number): void {
    this.#taken += bytes;
    if (this.#taken - this.#reported >= this.#every || this.#taken === this.#received) this.flush();
  }

  /** Reports what was taken and not yet reported (nothing when up to date). */
  flush(): void {
    if (this.#taken === this.#reported) return;
    this.#reported = this.#taken;
    this.#report(this.#taken);
  }
}
