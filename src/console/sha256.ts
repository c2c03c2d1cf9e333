/**
 * SHA-256 (FIPS 180-4) fed piece by piece, for the console's file transfers: the browser's
 * `crypto.subtle.digest` takes the whole input at once, and a file of hundreds of MiB must not
 * be held whole to hash it. Node programs use node:crypto instead (faster, native); this one is
 * for the page, which is why it lives in console/.
 *
 * `update` copies nothing but a partial block (64 bytes): whole blocks are hashed straight out
 * of the caller's bytes. `hex()` ends the hash; after it `update` throws (a bug, not input).
 */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const BLOCK = 64;

export class Sha256 {
  readonly #h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  readonly #w = new Uint32Array(64);
  /** A block not yet full, carried to the next update. */
  readonly #partial = new Uint8Array(BLOCK);
  #partialLength = 0;
  #length = 0;
  #done = false;

  /** Bytes hashed so far. */
  get length(): number {
    return this.#length;
  }

  update(bytes: Uint8Array): this {
    if (this.#done) throw new Error('Sha256.update after hex()');
    this.#length += bytes.length;
    let at = 0;
    if (this.#partialLength > 0) {
      const take = Math.min(BLOCK - this.#partialLength, bytes.length);
      this.#partial.set(bytes.subarray(0, take), this.#partialLength);
      this.#partialLength += take;
      at = take;
      if (this.#partialLength < BLOCK) return this;
      this.#blocks(this.#partial, 0, BLOCK);
      this.#partialLength = 0;
    }
    const whole = at + Math.floor((bytes.length - at) / BLOCK) * BLOCK;
    if (whole > at) this.#blocks(bytes, at, whole);
    if (whole < bytes.length) {
      this.#partial.set(bytes.subarray(whole));
      this.#partialLength = bytes.length - whole;
    }
    return this;
  }

  /** The digest as 64 lowercase hex digits (the form the wire carries). */
  hex(): string {
    if (!this.#done) this.#finish();
    let text = '';
    for (const word of this.#h) text += word.toString(16).padStart(8, '0');
    return text;
  }

  #finish(): void {
    const bits = this.#length * 8;
    const tail = new Uint8Array(this.#partialLength < 56 ? BLOCK : 2 * BLOCK);
    tail.set(this.#partial.subarray(0, this.#partialLength));
    tail[this.#partialLength] = 0x80;
    const view = new DataView(tail.buffer);
    // The length in bits as a 64-bit big-endian number; past 2^32 it needs the high word.
    view.setUint32(tail.length - 8, Math.floor(bits / 0x1_0000_0000));
    view.setUint32(tail.length - 4, bits >>> 0);
    this.#blocks(tail, 0, tail.length);
    this.#done = true;
  }

  /** Hashes bytes[from, to), a whole number of blocks. */
  #blocks(bytes: Uint8Array, from: number, to: number): void {
    const w = this.#w;
    const h = this.#h;
    let h0 = h[0]!;
    let h1 = h[1]!;
    let h2 = h[2]!;
    let h3 = h[3]!;
    let h4 = h[4]!;
    let h5 = h[5]!;
    let h6 = h[6]!;
    let h7 = h[7]!;
    for (let p = from; p < to; p += BLOCK) {
      for (let i = 0; i < 16; i++) {
        const j = p + i * 4;
        w[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
      }
      for (let i = 16; i < 64; i++) {
        const a = w[i - 15]!;
        const b = w[i - 2]!;
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
      }
      let a = h0;
      let b = h1;
      let c = h2;
      let d = h3;
      let e = h4;
      let f = h5;
      let g = h6;
      let hh = h7;
      for (let i = 0; i < 64; i++) {
        const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (hh + s1 + ch + K[i]! + w[i]!) | 0;
        const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (s0 + maj) | 0;
        hh = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + b) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0;
      h5 = (h5 + f) | 0;
      h6 = (h6 + g) | 0;
      h7 = (h7 + hh) | 0;
    }
    h[0] = h0;
    h[1] = h1;
    h[2] = h2;
    h[3] = h3;
    h[4] = h4;
    h[5] = h5;
    h[6] = h6;
    h[7] = h7;
  }
}
