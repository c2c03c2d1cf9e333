import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BYTE_FRAME_HEADER_BYTES,
  ByteFd,
  ByteKind,
  MAX_BYTE_FRAME_BYTES,
  MAX_BYTE_FRAME_DATA,
  binaryData,
  decodeByteFrame,
  encodeByteFrame,
  encodeByteHeader,
  setByteFrameSeq,
} from '../../src/protocol/byte-frame.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { MAX_SEQ } from '../../src/protocol/fields.js';
import { seededRandom } from '../helpers/seeded-random.js';

function header(kind: number, stream: number, fd: number, seqHigh = 0, seqLow = 0): Uint8Array {
  const bytes = new Uint8Array(BYTE_FRAME_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, kind);
  view.setUint32(1, stream);
  view.setUint8(5, fd);
  view.setUint16(6, seqHigh);
  view.setUint32(8, seqLow);
  return bytes;
}

function refused(bytes: Uint8Array, pattern: RegExp): void {
  const result = decodeByteFrame(bytes);
  assert.equal(result.ok, false);
  if (!result.ok) {
    assert.equal(result.error.code, ErrorCode.invalidFrame);
    assert.match(result.error.message, pattern);
  }
}

describe('byte frames', () => {
  it('lays the header out as the protocol says: kind, stream u32be, fd, seq u48be', () => {
    const frame = encodeByteFrame({
      kind: ByteKind.data,
      stream: 0x01020304,
      fd: ByteFd.stderr,
      seq: 0x0a0b_0c0d0e0f,
      data: new Uint8Array([0xff, 0x00, 0x41]),
    });
    assert.deepEqual(
      [...frame],
      [1, 1, 2, 3, 4, 2, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xff, 0x00, 0x41],
    );
  });

  it('round-trips every kind, fd, the largest stream, seq and frame', () => {
    const data = new Uint8Array(MAX_BYTE_FRAME_DATA).fill(7);
    for (const fd of [ByteFd.stdin, ByteFd.stdout, ByteFd.stderr]) {
      const frame = { kind: ByteKind.data, stream: 0xffff_ffff, fd, seq: MAX_SEQ, data };
      const decoded = decodeByteFrame(encodeByteFrame(frame));
      assert.ok(decoded.ok);
      if (decoded.ok)
        assert.deepEqual(
          { ...decoded.frame, data: decoded.frame.data.length },
          {
            ...frame,
            data: data.length,
          },
        );
    }
    const eof = decodeByteFrame(
      encodeByteFrame({ kind: ByteKind.eof, stream: 9, fd: 0, seq: 0, data: new Uint8Array(0) }),
    );
    assert.ok(eof.ok && eof.frame.kind === ByteKind.eof && eof.frame.data.length === 0);
  });

  it('writes a seq into a frame in place (the spool numbers frames when it sends them)', () => {
    const frame = encodeByteFrame({ kind: 1, stream: 5, fd: 1, seq: 0, data: new Uint8Array([1]) });
    setByteFrameSeq(frame, 2 ** 40 + 3);
    const decoded = decodeByteFrame(frame);
    assert.ok(decoded.ok && decoded.frame.seq === 2 ** 40 + 3 && decoded.frame.stream === 5);
  });

  it('refuses hostile frames with a message naming what is wrong, and never throws', () => {
    refused(new Uint8Array(5), /shorter than its 12-byte header/);
    refused(new Uint8Array(MAX_BYTE_FRAME_BYTES + 1), /over/);
    refused(header(3, 1, 1), /unknown kind 3/);
    refused(header(0, 1, 1), /unknown kind 0/);
    refused(header(1, 1, 3), /unknown fd 3/);
    refused(header(1, 0, 1), /stream 0/);
    refused(new Uint8Array([...header(2, 1, 0), 1, 2]), /eof binary frame carries 2 data bytes/);
    const r = decodeByteFrame(header(1, 77, 9));
    assert.ok(!r.ok && r.error.stream === 77);
  });

  it('fuzz: random and mutated frames decode or are refused, never throw', () => {
    const random = seededRandom(15);
    const valid = encodeByteFrame({ kind: 1, stream: 3, fd: 1, seq: 42, data: new Uint8Array(40) });
    for (let i = 0; i < 20_000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = new Uint8Array(Math.floor(random() * 64));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      } else {
        bytes = valid.slice(0, Math.floor(random() * (valid.length + 1)));
        const flips = 1 + Math.floor(random() * 4);
        for (let f = 0; f < flips && bytes.length > 0; f++)
          bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      }
      const result = decodeByteFrame(bytes);
      if (result.ok) {
        assert.ok(result.frame.kind === 1 || result.frame.kind === 2);
        assert.ok(result.frame.fd <= 2 && result.frame.stream >= 1);
        assert.ok(result.frame.seq >= 0 && result.frame.seq <= MAX_SEQ);
        assert.equal(result.frame.data.length, bytes.length - BYTE_FRAME_HEADER_BYTES);
      } else assert.equal(result.error.code, ErrorCode.invalidFrame);
    }
  });

  it('refuses to encode values out of range (a caller bug, not input)', () => {
    assert.throws(() => encodeByteHeader(1, 0, 1, 0), /stream/);
    assert.throws(() => encodeByteHeader(1, 2 ** 32, 1, 0), /stream/);
    assert.throws(() => encodeByteHeader(1, 1, 1, MAX_SEQ + 1), /seq/);
    assert.throws(() =>
      encodeByteFrame({ kind: 2, stream: 1, fd: 0, seq: 0, data: new Uint8Array(1) }),
    );
  });

  it('joins ws fragments and ArrayBuffers into one view', () => {
    const joined = binaryData([new Uint8Array([1, 2]), new Uint8Array([3])]);
    assert.deepEqual([...joined], [1, 2, 3]);
    assert.deepEqual([...binaryData(new Uint8Array([4]).buffer)], [4]);
  });
});
