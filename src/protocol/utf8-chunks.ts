import { isUtf8 } from 'node:buffer';

/**
 * Turns output bytes into frame chunks: UTF-8 text when the bytes are valid UTF-8, base64
 * otherwise, so any output can be rebuilt byte for byte. A multi-byte character cut by a read
 * or a chunk border is held back for the next piece instead of being split.
 */
export interface EncodedChunk {
  chunk: string;
  /** Absent for UTF-8 text (the platform docs' shape); "base64" for anything else. */
  encoding?: 'base64';
}

/**
 * Length of the longest prefix of `bytes` that does not end inside a UTF-8 character. Bytes
 * that cannot start or continue a character are not held back (they are invalid anyway).
 */
export function completeUtf8Length(bytes: Uint8Array): number {
  const n = bytes.length;
  // A character is at most 4 bytes: only the last 3 can belong to an unfinished one.
  for (let back = 1; back <= Math.min(3, n); back++) {
    const byte = bytes[n - back] as number;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const needed = byte >= 0xf0 && byte <= 0xf4 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc2 ? 2 : 1;
    if (byte < 0xc2 || byte > 0xf4) return n; // ASCII or not a lead byte: nothing to hold
    return needed > back ? n - back : n;
  }
  return n;
}

export function encodeChunk(bytes: Buffer): EncodedChunk {
  if (isUtf8(bytes)) return { chunk: bytes.toString('utf8') };
  return { chunk: bytes.toString('base64'), encoding: 'base64' };
}

/**
 * Per-stream splitter: `take(bytes, final)` returns the chunk to send now and keeps an
 * unfinished character for the next call. `final` sends everything.
 */
export class Utf8Splitter {
  #held: Buffer = Buffer.alloc(0);

  get held(): number {
    return this.#held.length;
  }

  take(bytes: Buffer, final: boolean): EncodedChunk | null {
    const all = this.#held.length === 0 ? bytes : Buffer.concat([this.#held, bytes]);
    const cut = final ? all.length : completeUtf8Length(all);
    this.#held = cut === all.length ? Buffer.alloc(0) : Buffer.from(all.subarray(cut));
    if (cut === 0) return null;
    return encodeChunk(all.subarray(0, cut));
  }
}
