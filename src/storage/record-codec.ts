import { MAX_FRAME_BYTES, type AgentMessage } from '../protocol/message.js';
import { setByteFrameSeq } from '../protocol/byte-frame.js';
import { crc32 } from './crc32.js';
import { canonicalIsoMs } from './iso-ms.js';
import { defaultChannel, laneCode, laneFromCode, type Lane } from './lanes.js';

/**
 * The on-disk format of one spooled message. A segment file is a magic header followed by
 * records, each:
 *
 *     u32le  length of what follows the checksum (meta + body)
 *     u32le  CRC-32 of those bytes
 *     u8     lane (its index in LANES); bit 7 set: a compact record (see below)
 *     u48le  seq
 *     u48le  device time of the message, ms since the epoch
 *     …      body: the message as JSON, without `seq` (it is added when sent); for a binary
 *            record (lane byte bit 6) the whole binary frame (docs/protocol.md, raw bytes),
 *            its seq field left 0
 *
 * A compact record leaves out the envelope's `channel` and `ts` as well, when they are implied:
 * the lane's default channel, and the record's time as ISO-8601 with milliseconds (the way the
 * agent stamps every message). For a telemetry frame that is a quarter of its size.
 *
 * A record whose length runs past the end of the file, or whose checksum does not match, is a
 * torn write (the power went, the process died mid-write): everything from it on is ignored.
 */
export const SEGMENT_MAGIC = Buffer.from('IOTSPL1\n', 'latin1');

const PREFIX_BYTES = 8;
const META_BYTES = 13;

/** Largest record the reader accepts: a maximal frame plus its header. */
export const MAX_RECORD_BYTES = PREFIX_BYTES + META_BYTES + MAX_FRAME_BYTES;

export interface SpoolEntry {
  seq: number;
  lane: Lane;
  tsMs: number;
  /**
   * The message as JSON text, without `seq` (and without `channel` and `ts` when compact); or,
   * for output bytes, the binary frame as it goes on the wire (its seq is filled in when sent):
   * raw bytes are spooled as they are, never escaped into JSON.
   */
  body: string | Uint8Array;
  compact: boolean;
}

const COMPACT_BIT = 0x80;
const BINARY_BIT = 0x40;

export function encodeRecord(entry: SpoolEntry): Buffer {
  return encodeRecords([entry], 1).data;
}

/**
 * The first `count` entries as consecutive records in one buffer, with each record's size: a
 * batch is one allocation and one write, not a buffer per record joined by a copy.
 */
export function encodeRecords(
  entries: readonly SpoolEntry[],
  count: number,
): { data: Buffer; sizes: number[] } {
  const sizes = new Array<number>(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const { body } = entries[i] as SpoolEntry;
    const bodyBytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
    sizes[i] = PREFIX_BYTES + META_BYTES + bodyBytes;
    total += PREFIX_BYTES + META_BYTES + bodyBytes;
  }
  const data = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const entry = entries[i] as SpoolEntry;
    const size = sizes[i] as number;
    writeRecord(data, offset, size, entry);
    offset += size;
  }
  return { data, sizes };
}

function writeRecord(data: Buffer, offset: number, size: number, entry: SpoolEntry): void {
  const { body } = entry;
  const binary = typeof body !== 'string';
  data.writeUInt32LE(size - PREFIX_BYTES, offset);
  data[offset + 8] =
    laneCode(entry.lane) | (entry.compact ? COMPACT_BIT : 0) | (binary ? BINARY_BIT : 0);
  data.writeUIntLE(entry.seq, offset + 9, 6);
  data.writeUIntLE(Math.max(0, Math.trunc(entry.tsMs)), offset + 15, 6);
  const bodyAt = offset + PREFIX_BYTES + META_BYTES;
  if (binary) data.set(body, bodyAt);
  // An ASCII body (its byte length is its length: telemetry, most JSON) takes the latin1
  // copy, which is the same bytes without UTF-8 encoding work.
  else if (size - PREFIX_BYTES - META_BYTES === body.length) data.write(body, bodyAt, 'latin1');
  else data.write(body, bodyAt, 'utf8');
  data.writeUInt32LE(crc32(data, offset + PREFIX_BYTES, offset + size), offset + 4);
}

export type DecodeResult =
  | { kind: 'record'; entry: SpoolEntry; bytes: number }
  /** The bytes end before the record does: read more, or, at the end of the file, torn. */
  | { kind: 'partial' }
  | { kind: 'corrupt'; reason: string };

/** Decodes the record starting at `offset` of `data[0, end)`. Never throws. */
export function decodeRecord(data: Buffer, offset: number, end = data.length): DecodeResult {
  if (end - offset < PREFIX_BYTES) return { kind: 'partial' };
  const length = data.readUInt32LE(offset);
  if (length < META_BYTES || PREFIX_BYTES + length > MAX_RECORD_BYTES) {
    return { kind: 'corrupt', reason: `impossible record length ${length}` };
  }
  const total = PREFIX_BYTES + length;
  if (end - offset < total) return { kind: 'partial' };
  const expected = data.readUInt32LE(offset + 4);
  if (crc32(data, offset + PREFIX_BYTES, offset + total) !== expected) {
    return { kind: 'corrupt', reason: 'checksum mismatch' };
  }
  const code = data.readUInt8(offset + 8);
  const lane = laneFromCode(code & ~(COMPACT_BIT | BINARY_BIT));
  if (!lane) return { kind: 'corrupt', reason: `unknown lane ${code}` };
  const seq = data.readUIntLE(offset + 9, 6);
  if (seq < 1) return { kind: 'corrupt', reason: 'seq 0' };
  return {
    kind: 'record',
    bytes: total,
    entry: {
      seq,
      lane,
      tsMs: data.readUIntLE(offset + 15, 6),
      body:
        (code & BINARY_BIT) !== 0
          ? Buffer.from(data.subarray(offset + PREFIX_BYTES + META_BYTES, offset + total))
          : data.toString('utf8', offset + PREFIX_BYTES + META_BYTES, offset + total),
      compact: (code & COMPACT_BIT) !== 0,
    },
  };
}

/** The wire frame of a spooled message: its JSON with `seq` (and a compact record's envelope) first. */
export function frameOf(entry: SpoolEntry): string | Uint8Array {
  const { body } = entry;
  if (typeof body !== 'string') {
    // The frame is the record's own bytes: its seq is written in place (always the same one).
    setByteFrameSeq(body, entry.seq);
    return body;
  }
  const rest = body.length > 2 ? `,${body.slice(1)}` : '}';
  if (!entry.compact) return `{"seq":${entry.seq}${rest}`;
  const channel = JSON.stringify(defaultChannel(entry.lane) ?? '');
  const ts = new Date(entry.tsMs).toISOString();
  return `{"seq":${entry.seq},"channel":${channel},"ts":"${ts}"${rest}`;
}

/** A message's record time and whether its record can be compact (see `isCompactable`). */
export function recordTime(lane: Lane, message: AgentMessage): { tsMs: number; compact: boolean } {
  const canonical = canonicalIsoMs(message.ts);
  if (canonical !== null) {
    // What the agent stamps: the ts is restored exactly from the record time.
    const channel = defaultChannel(lane);
    return { tsMs: canonical, compact: channel !== undefined && message.channel === channel };
  }
  const parsed = Date.parse(message.ts);
  return {
    tsMs: Number.isFinite(parsed) ? Math.max(0, parsed) : 0,
    compact: isCompactable(lane, message.channel, message.ts, parsed),
  };
}

/**
 * The record body of a message: its JSON without `seq` (and without `channel` and `ts` for a
 * compact record), the other fields in their order, as `JSON.stringify` of a copy without them
 * would give. Field by field rather than through such a copy: spreading the message and
 * stringifying fields set to undefined took three times as long as the JSON itself (issue 21).
 */
export function bodyOf(message: AgentMessage, compact: boolean): string {
  let body = '{';
  for (const key of Object.keys(message)) {
    if (key === 'seq' || (compact && (key === 'channel' || key === 'ts'))) continue;
    const value = JSON.stringify((message as unknown as Record<string, unknown>)[key]);
    if (value === undefined) continue; // undefined, a function: JSON leaves the field out
    body += `${body.length > 1 ? ',' : ''}${JSON.stringify(key)}:${value}`;
  }
  return `${body}}`;
}

/** Whether a message's `channel` and `ts` are exactly what a compact record restores. */
export function isCompactable(
  lane: Lane,
  channel: string | undefined,
  ts: string,
  tsMs: number,
): boolean {
  return (
    channel !== undefined &&
    defaultChannel(lane) === channel &&
    Number.isFinite(tsMs) &&
    tsMs >= 0 &&
    new Date(tsMs).toISOString() === ts
  );
}
