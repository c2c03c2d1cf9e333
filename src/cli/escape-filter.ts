/**
 * ssh's escape sequences on the keystrokes of `iottly-agent shell`: `~` typed right after a
 * newline (or as the very first key) is held; `~.` then drops the session, `~~` sends one `~`,
 * and `~` before any other key sends both. Pure: bytes in, what to send and whether to drop out.
 */
const TILDE = 0x7e;
const DOT = 0x2e;

export interface Filtered {
  /** The bytes to send to the remote terminal. */
  send: Buffer;
  /** `~.` was typed: end the session from this side. */
  drop: boolean;
}

export class EscapeFilter {
  #atLineStart = true;
  #holdingTilde = false;

  push(input: Buffer): Filtered {
    const out: number[] = [];
    for (const byte of input) {
      if (this.#holdingTilde) {
        this.#holdingTilde = false;
        if (byte === DOT) return { send: Buffer.from(out), drop: true };
        if (byte !== TILDE) out.push(TILDE);
        out.push(byte);
        this.#atLineStart = isNewline(byte);
        continue;
      }
      if (this.#atLineStart && byte === TILDE) {
        this.#holdingTilde = true;
        continue;
      }
      out.push(byte);
      this.#atLineStart = isNewline(byte);
    }
    return { send: Buffer.from(out), drop: false };
  }
}

function isNewline(byte: number): boolean {
  return byte === 0x0d || byte === 0x0a;
}
