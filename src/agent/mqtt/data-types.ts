/**
 * MQTT's data representations (spec §1.5): two- and four-byte integers, the variable byte
 * integer (at most four bytes), UTF-8 strings with a two-byte length, binary data. Reading goes
 * through ByteCursor, which checks the end of the packet before every read, so a short or lying
 * packet is a MalformedPacketError, never a read past its bytes.
 */
import { MalformedPacketError } from './reason-codes.js';

/** The largest variable byte integer: four bytes of seven bits (§1.5.5). */
export const MAX_VARINT = 268_435_455;

/** Bytes of `value` as a variable byte integer. */
export function varintLength(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value <= MAX_VARINT) return 4;
  throw new RangeError(`${value} does not fit an MQTT variable byte integer`);
}

export function writeVarint(buffer: Buffer, offset: number, value: number): number {
  let rest = value;
  let at = offset;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    buffer[at++] = byte;
  } while (rest > 0);
  return at;
}

/** Bytes of a UTF-8 string field: its two-byte length and its text. */
export function utf8Length(text: string): number {
  return 2 + Buffer.byteLength(text);
}

export function writeUtf8(buffer: Buffer, offset: number, text: string): number {
  const length = buffer.write(text, offset + 2);
  buffer.writeUInt16BE(length, offset);
  return offset + 2 + length;
}

/** Fatal: a byte sequence that is not UTF-8 throws instead of becoming U+FFFD. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A bounded view of a packet's bytes: every read checks the end first. */
export class ByteCursor {
  readonly buffer: Buffer;
  offset: number;
  readonly end: number;

  constructor(buffer: Buffer, offset = 0, end = buffer.length) {
    this.buffer = buffer;
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  need(bytes: number, what: string): void {
    if (this.remaining < bytes)
      throw new MalformedPacketError(`${what}: ${bytes} bytes needed, ${this.remaining} left`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buffer.readUInt8(this.offset++);
  }

  u16(what: string): number {
    this.need(2, what);
    const value = this.buffer.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** A variable byte integer: a fifth byte is malformed (§1.5.5). */
  varint(what: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      const byte = this.u8(what);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value;
      multiplier *= 128;
    }
    throw new MalformedPacketError(`${what}: a variable byte integer longer than 4 bytes`);
  }

  /** A UTF-8 string: ill-formed UTF-8 (surrogates, overlong forms) or U+0000 is malformed. */
  utf8(what: string): string {
    const bytes = this.binary(what);
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      throw new MalformedPacketError(`${what}: not well-formed UTF-8`);
    }
    // U+0000 is forbidden even when well formed (§1.5.4).
    if (text.includes('\u0000')) throw new MalformedPacketError(`${what}: contains U+0000`);
    return text;
  }

  binary(what: string): Buffer {
    const length = this.u16(what);
    this.need(length, what);
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  rest(): Buffer {
    const value = this.buffer.subarray(this.offset, this.end);
    this.offset = this.end;
    return value;
  }
}
