/**
 * What a shell session's client sends while the device's link is down (the session outlives a
 * short drop, and so does its route, for the request grace): the keystrokes, the last window
 * size and a close, held for the session and sent once the device is back, in that order.
 * Bounded: keystrokes past `maxBytes` are dropped (a terminal is typed into, not fed files).
 */
export interface HeldInput {
  bytes: Buffer[];
  size: number;
  resize: { rows: number; cols: number } | null;
  close: boolean;
}

/** Keystrokes held per session while its device is away. */
export const MAX_HELD_SESSION_INPUT_BYTES = 64 * 1024;

export class HeldSessionInput<R extends object> {
  readonly #held = new WeakMap<R, HeldInput>();
  readonly #maxBytes: number;

  constructor(maxBytes = MAX_HELD_SESSION_INPUT_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Holds keystrokes; false when they do not fit (dropped). */
  keys(request: R, bytes: Uint8Array): boolean {
    const held = this.#entry(request);
    if (held.size + bytes.length > this.#maxBytes) return false;
    held.bytes.push(Buffer.from(bytes));
    held.size += bytes.length;
    return true;
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
    if (!held) this.#held.set(request, (held = { bytes: [], size: 0, resize: null, close: false }));
    return held;
  }
}
