import { ErrorCode } from './error-codes.js';
import { MAX_SEQ } from './fields.js';
import { MAX_FRAME_BYTES } from './message.js';
import { number } from './schema.js';

/**
 * Raw bytes on a WebSocket, as binary frames (negotiated: `hello.capabilities` lists
 * BYTES_CAPABILITY, `welcome.bytes` is true). One frame is a 12-byte header, then the bytes:
 *
 *     byte 0      kind     1 data, 2 eof (that stream's fd is finished; no bytes follow)
 *     bytes 1–4   stream   u32 big-endian, 1 … 2^32-1: which request or session (0 is never used)
 *     byte 5      fd       0 stdin, 1 stdout, 2 stderr (a PTY's output is fd 1)
 *     bytes 6–11  seq      u48 big-endian: the agent's spool seq on agent→hub frames, else 0
 *     12…         data     raw bytes, never escaped
 *
 * Works on Uint8Array (a Node Buffer is one), so the console can use it in a browser. Decoding
 * never throws: a hostile frame becomes a ByteFrameError naming what was wrong, and the
 * receiver answers it and keeps the connection.
 */
export const BYTES_CAPABILITY = 'bytes';

export const BYTE_FRAME_HEADER_BYTES = 12;
/** Largest whole binary frame either side accepts (the same limit as a JSON frame). */
export const MAX_BYTE_FRAME_BYTES = MAX_FRAME_BYTES;
/** Most data bytes one frame may carry. */
export const MAX_BYTE_FRAME_DATA = MAX_BYTE_FRAME_BYTES - BYTE_FRAME_HEADER_BYTES;
export const MAX_STREAM_NUMBER = 0xffff_ffff;

export const ByteKind = { data: 1, eof: 2 } as const;
export type ByteKind = (typeof ByteKind)[keyof typeof ByteKind];

export const ByteFd = { stdin: 0, stdout: 1, stderr: 2 } as const;
export type ByteFd = (typeof ByteFd)[keyof typeof ByteFd];

export interface ByteFrame {
  kind: ByteKind;
  stream: number;
  fd: ByteFd;
  /** 0 where nothing needs it (hub→agent, hub→client, client→hub). */
  seq: number;
  /** Empty for eof. On decode, a view into the received frame (not a copy). */
  data: Uint8Array;
}

export interface ByteFrameError {
  code: typeof ErrorCode.invalidFrame;
  message: string;
  /** The frame's stream, when the header was long enough to read it. */
  stream?: number;
}

export type ByteFrameResult = { ok: true; frame: ByteFrame } | { ok: false; error: ByteFrameError };

/** The `stream` field of a JSON payload that opens a byte stream (`command`, `session_open`). */
export const streamNumber = () => number({ integer: true, min: 1, max: MAX_STREAM_NUMBER });

const EMPTY = new Uint8Array(0);

/**
 * The 12-byte header alone, for a sender that writes the data after it (or a spool that keeps
 * the bytes and fills in the seq when it sends). Throws on a value out of range: that is a bug
 * in the caller, not hostile input.
 */
export function encodeByteHeader(
  kind: ByteKind,
  stream: number,
  fd: ByteFd,
  seq: number,
  into: Uint8Array = new Uint8Array(BYTE_FRAME_HEADER_BYTES),
  offset = 0,
): Uint8Array {
  checkHeader(kind, stream, fd, seq);
  const view = new DataView(into.buffer, into.byteOffset + offset, BYTE_FRAME_HEADER_BYTES);
  view.setUint8(0, kind);
  view.setUint32(1, stream);
  view.setUint8(5, fd);
  writeSeq(view, seq);
  return into;
}

/** Writes `seq` (u48 big-endian) into bytes 6–11 of a header that is already there. */
export function setByteFrameSeq(frame: Uint8Array, seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq > MAX_SEQ)
    throw new RangeError(`byte frame seq must be an integer in [0, ${MAX_SEQ}], got ${seq}`);
  writeSeq(new DataView(frame.buffer, frame.byteOffset, BYTE_FRAME_HEADER_BYTES), seq);
}

/** One whole frame: header and data in one buffer, ready for `socket.send`. */
export function encodeByteFrame(frame: ByteFrame): Uint8Array {
  const { kind, stream, fd, seq, data } = frame;
  if (kind === ByteKind.eof && data.length > 0)
    throw new RangeError('an eof byte frame carries no data');
  if (data.length > MAX_BYTE_FRAME_DATA)
    throw new RangeError(`byte frame data is at most ${MAX_BYTE_FRAME_DATA} bytes`);
  const out = new Uint8Array(BYTE_FRAME_HEADER_BYTES + data.length);
  encodeByteHeader(kind, stream, fd, seq, out);
  out.set(data, BYTE_FRAME_HEADER_BYTES);
  return out;
}

/** Decodes one binary frame. Never throws. */
export function decodeByteFrame(bytes: Uint8Array): ByteFrameResult {
  if (bytes.length < BYTE_FRAME_HEADER_BYTES)
    return failure(
      `binary frame of ${bytes.length} bytes is shorter than its ${BYTE_FRAME_HEADER_BYTES}-byte header`,
    );
  if (bytes.length > MAX_BYTE_FRAME_BYTES)
    return failure(`binary frame of ${bytes.length} bytes is over ${MAX_BYTE_FRAME_BYTES}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, BYTE_FRAME_HEADER_BYTES);
  const kind = view.getUint8(0);
  const stream = view.getUint32(1);
  const fd = view.getUint8(5);
  const seq = view.getUint16(6) * 2 ** 32 + view.getUint32(8);
  if (stream === 0) return failure('binary frame names stream 0 (streams are numbered from 1)');
  if (kind !== ByteKind.data && kind !== ByteKind.eof)
    return failure(`binary frame has unknown kind ${kind} (1 data, 2 eof)`, stream);
  if (fd !== ByteFd.stdin && fd !== ByteFd.stdout && fd !== ByteFd.stderr)
    return failure(`binary frame has unknown fd ${fd} (0 stdin, 1 stdout, 2 stderr)`, stream);
  if (kind === ByteKind.eof && bytes.length > BYTE_FRAME_HEADER_BYTES)
    return failure(
      `eof binary frame carries ${bytes.length - BYTE_FRAME_HEADER_BYTES} data bytes`,
      stream,
    );
  return {
    ok: true,
    frame: {
      kind,
      stream,
      fd,
      seq,
      data: kind === ByteKind.eof ? EMPTY : bytes.subarray(BYTE_FRAME_HEADER_BYTES),
    },
  };
}

/** A ws message's bytes as one Uint8Array (ws hands Buffer, ArrayBuffer or fragments). */
export function binaryData(data: Uint8Array | ArrayBuffer | Uint8Array[]): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) {
    const total = data.reduce((sum, part) => sum + part.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const part of data) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
  return data;
}

function writeSeq(view: DataView, seq: number): void {
  view.setUint16(6, Math.floor(seq / 2 ** 32));
  view.setUint32(8, seq % 2 ** 32);
}

function checkHeader(kind: number, stream: number, fd: number, seq: number): void {
  if (kind !== ByteKind.data && kind !== ByteKind.eof)
    throw new RangeError(`byte frame kind must be 1 or 2, got ${kind}`);
  if (!Number.isInteger(stream) || stream < 1 || stream > MAX_STREAM_NUMBER)
    throw new RangeError(`byte frame stream must be in [1, ${MAX_STREAM_NUMBER}], got ${stream}`);
  if (fd !== ByteFd.stdin && fd !== ByteFd.stdout && fd !== ByteFd.stderr)
    throw new RangeError(`byte frame fd must be 0, 1 or 2, got ${fd}`);
  if (!Number.isSafeInteger(seq) || seq < 0 || seq > MAX_SEQ)
    throw new RangeError(`byte frame seq must be an integer in [0, ${MAX_SEQ}], got ${seq}`);
}

function failure(message: string, stream?: number): ByteFrameResult {
  const error: ByteFrameError = { code: ErrorCode.invalidFrame, message };
  if (stream !== undefined) error.stream = stream;
  return { ok: false, error };
}
