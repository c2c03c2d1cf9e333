import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Sha256 } from '../../src/console/sha256.js';
import { seededRandom } from '../helpers/seeded-random.js';

/**
 * The console's streaming SHA-256 (src/console/sha256.ts) against node:crypto: every length
 * around the block and padding edges, random pieces of random sizes, and 100 MiB in 1 MiB
 * pieces (the speed the Files tab hashes at is printed; the README quotes it).
 */
const expected = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('console: streaming sha256', () => {
  it('matches the FIPS 180-4 examples', () => {
    const text = (s: string) => new Sha256().update(new TextEncoder().encode(s)).hex();
    assert.equal(text(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(text('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(
      text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('matches node:crypto for every length from 0 to 300 bytes, whole and byte by byte', () => {
    const data = randomBytes(300);
    for (let n = 0; n <= 300; n++) {
      const bytes = data.subarray(0, n);
      assert.equal(new Sha256().update(bytes).hex(), expected(bytes), `length ${n}`);
      const piecewise = new Sha256();
      for (const byte of bytes) piecewise.update(Uint8Array.of(byte));
      assert.equal(piecewise.hex(), expected(bytes), `length ${n}, one byte at a time`);
    }
  });

  it('matches node:crypto for random sizes cut into random pieces', () => {
    const random = seededRandom(16);
    for (let round = 0; round < 200; round++) {
      const size = Math.floor(random() ** 3 * 2_000_000);
      const bytes = randomBytes(size);
      const hash = new Sha256();
      for (let at = 0; at < size;) {
        const piece = Math.min(size - at, 1 + Math.floor(random() ** 2 * 200_000));
        hash.update(bytes.subarray(at, at + piece));
        at += piece;
      }
      assert.equal(hash.length, size);
      assert.equal(hash.hex(), expected(bytes), `size ${size}, round ${round}`);
    }
  });

  it('refuses update after hex(), and hex() twice gives the same digest', () => {
    const hash = new Sha256().update(Uint8Array.of(1, 2, 3));
    assert.equal(hash.hex(), hash.hex());
    assert.throws(() => hash.update(Uint8Array.of(4)), /after hex/);
  });

  it('hashes 100 MiB in 1 MiB pieces as node:crypto does (speed printed)', () => {
    const piece = randomBytes(1024 * 1024);
    const theirs = createHash('sha256');
    for (let i = 0; i < 100; i++) theirs.update(piece.fill(i, 0, 1)); // 100 different pieces
    const ours = new Sha256();
    const started = process.hrtime.bigint();
    for (let i = 0; i < 100; i++) ours.update(piece.fill(i, 0, 1));
    const digest = ours.hex();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    assert.equal(digest, theirs.digest('hex'));
    const mbPerS = (100 * 1024 * 1024) / 1e6 / seconds;
    console.log(
      `sha256 (console, TypeScript): 100 MiB in ${seconds.toFixed(2)} s = ${mbPerS.toFixed(0)} MB/s`,
    );
  });
});
