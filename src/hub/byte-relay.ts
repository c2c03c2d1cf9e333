import {
  BYTE_FRAME_HEADER_BYTES,
  ByteFd,
  ByteKind,
  encodeByteHeader,
  type ByteFrame,
} from '../protocol/byte-frame.js';
import { Utf8Splitter, completeUtf8Length, type EncodedChunk } from '../protocol/utf8-chunks.js';

/**
 * The hub between the two forms of a command's bytes (docs/protocol.md, raw bytes): a device
 * link may speak binary frames or JSON only, and so may each client, independently. Pure
 * functions and a small per-request state; the broker decides which way a frame goes.
 */

/**
 * A binary frame again, under another stream number and seq. The received frame's own bytes are
 * reused when its header is still in front of its data (a decoded frame's data is a view of
 * them): the hub owns what ws handed it, so the header is rewritten in place, without copying
 * the data. Otherwise (an eof's empty data) a new frame is made.
 */
export function reframe(frame: ByteFrame, stream: number, seq: number): Uint8Array {
  const { data } = frame;
  if (data.length > 0 && data.byteOffset >= BYTE_FRAME_HEADER_BYTES) {
    const whole = new Uint8Array(
      data.buffer,
      data.byteOffset - BYTE_FRAME_HEADER_BYTES,
      data.length + BYTE_FRAME_HEADER_BYTES,
    );
    if (sameHeader(whole, frame)) return encodeByteHeader(frame.kind, stream, frame.fd, seq, whole);
  }
  const out = new Uint8Array(BYTE_FRAME_HEADER_BYTES + frame.data.length);
  encodeByteHeader(frame.kind, stream, frame.fd, seq, out);
  out.set(frame.data, BYTE_FRAME_HEADER_BYTES);
  return out;
}

/** Whether `bytes` starts with the header `frame` was decoded from (so it is that frame). */
function sameHeader(bytes: Uint8Array, frame: ByteFrame): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, BYTE_FRAME_HEADER_BYTES);
  return (
    view.getUint8(0) === frame.kind &&
    view.getUint32(1) === frame.stream &&
    view.getUint8(5) === frame.fd
  );
}

/** A `command_output` payload's bytes (UTF-8 text, or base64 when it says so). */
export function outputBytes(payload: { chunk: string; encoding?: string }): Uint8Array {
  return Buffer.from(payload.chunk, payload.encoding === 'base64' ? 'base64' : 'utf8');
}

export function outputFdNumber(fd: string): ByteFd {
  return fd === 'stderr' ? ByteFd.stderr : ByteFd.stdout;
}

/** `command_input` payloads carrying `data` (base64 pieces under the agent's 512 Ki-char bound). */
export function inputPayloads(
  frame: ByteFrame,
  requestId: string,
  pieceBytes = 384 * 1024,
): Record<string, unknown>[] {
  if (frame.kind === ByteKind.eof) return [{ request_id: requestId, eof: true }];
  const payloads: Record<string, unknown>[] = [];
  for (let at = 0; at < frame.data.length; at += pieceBytes) {
    const piece = frame.data.subarray(at, at + pieceBytes);
    payloads.push({
      request_id: requestId,
      data: Buffer.from(piece.buffer, piece.byteOffset, piece.length).toString('base64'),
      encoding: 'base64',
    });
  }
  return payloads;
}

/**
 * Most bytes in one `command_output` made from binary output. A device's frame may carry 256 KiB;
 * strings and buffers of that size live in V8's large-object space, and a 256 KiB chunk costs
 * the hub about twice as much CPU to make into JSON, and a Node client three times as much to
 * parse, as four of 64 KiB (measured: 1.0 s against 0.5 s, and 0.47 s against 0.17 s, per
 * 256 MiB of text). Below 128 KiB they are made and collected in the young generation.
 */
export const OUTPUT_PIECE_BYTES = 64 * 1024;

export type OutputChunk = EncodedChunk & { fd: 'stdout' | 'stderr' };

/**
 * Binary output turned into the seed's `command_output` chunks for a client that did not ask
 * for bytes: at most OUTPUT_PIECE_BYTES each (plus an unfinished character held from before),
 * cut on UTF-8 character borders per fd, as the agent does for JSON output.
 */
export class OutputChunks {
  readonly #splitters = { stdout: new Utf8Splitter(), stderr: new Utf8Splitter() };

  /** The chunks to send now for these bytes (none while a character is incomplete). */
  take(fd: ByteFd, data: Uint8Array, pieceBytes = OUTPUT_PIECE_BYTES): OutputChunk[] {
    const name = fd === ByteFd.stderr ? 'stderr' : 'stdout';
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
    const chunks: OutputChunk[] = [];
    for (let at = 0; at < bytes.length;) {
      let end = Math.min(at + pieceBytes, bytes.length);
      // A piece that is not the last ends on a character border, so nothing is held between
      // pieces of one frame (a piece shorter than a character is left to the splitter).
      if (end < bytes.length) end = at + (completeUtf8Length(bytes.subarray(at, end)) || end - at);
      const chunk = this.#splitters[name].take(bytes.subarray(at, end), false);
      if (chunk) chunks.push({ ...chunk, fd: name });
      at = end;
    }
    return chunks;
  }

  /** What is still held (an unfinished character at the end): sent before `command_done`. */
  flush(): OutputChunk[] {
    const chunks: OutputChunk[] = [];
    for (const fd of ['stdout', 'stderr'] as const) {
      if (this.#splitters[fd].held === 0) continue;
      const chunk = this.#splitters[fd].take(Buffer.alloc(0), true);
      if (chunk) chunks.push({ ...chunk, fd });
    }
    return chunks;
  }
}
