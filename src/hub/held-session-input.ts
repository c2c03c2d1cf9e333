/**
 * What a session's client sends while the device's link is down (the session outlives a short
 * drop, and so does its route, for the request grace): the input, its end, the last window size,
 * the last `session_ack` and a close, held for the session and sent once the device is back, in
 * that order. Bounded in bytes by the caller: a shell's keystrokes past 64 KiB are dropped (a
 * terminal is typed into, not fed files); a bulk session's client never has more than its window
 * in flight, so input past the window means something is wrong and the session is ended.
 */
export interface HeldInput {
  bytes: Buffer[];
  size: number;
  /** The client ended its input (a bulk session's eof; a terminal has none). */
  eof: boolean;
  resize: { rows: number; cols: number } | null;
  /** The last `session_ack` count. */
  ack: number | null;
  close: boolean;
}

/** Keystrokes held per shell session while its device is away. */
export const MAX_HELD_SESSION_INPUT_BYTES = 64 * 1024;

export class HeldSessionInput<R extends object> {
  readonly #held = new WeakMap<R, HeldInput>();

  /** Holds input; false when it does not fit under `maxBytes` (not held). */
  keys(request: R, bytes: Uint8Array, maxBytes = MAX_HELD_SESSION_INPUT_BYTES): boolean {
    const held = this.#entry(request);
    if (held.size + bytes.length > maxBytes) return false;
    held.bytes.push(Buffer.from(bytes));
    held.size += bytes.length;
    return true;
  }

  eof(request: R): void {
    this.#entry(request).eof = true;
  }

  ack(request: R, bytes: number): void {
    const held = this.#entry(request);
    held.ack = Math.max(held.ack ?? 0, bytes);
  }

  resize(request: R, size: { rows: number; cols: number }): void {
    this.#entry(request).resize = { rows: size.rows, cols: size.cols };
  }

  close(request: R): void {
    this.#entry(request).close = true;
  }

  /** What was held for the session (then forgotten), or null. */
  take(request: R): HeldInput | null {
    const held = this.#held.get(request) ?? null;
    this.#held.delete(request);
    return held;
  }

  #entry(request: R): HeldInput {
    let held = this.#held.get(request);
    if (!held)
      this.#held.set(
        request,
        (held = { bytes: [], size: 0, eof: false, resize: null, ack: null, close: false }),
      );
    return held;
  }
}
