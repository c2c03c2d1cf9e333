/**
 * Frames MQTT packets out of a byte stream (spec §2.1): the first byte, the remaining length
 * (a variable byte integer of at most four bytes), then that many bytes. Bounded: a packet whose
 * announced size exceeds `maxPacketBytes` (the Maximum Packet Size our CONNECT stated) is refused
 * as soon as its length is read, before any of its body is buffered, so at most one packet's
 * bytes (within the bound) are ever held. After an error the reader reads nothing more.
 */
import { MalformedPacketError, MqttError, MqttErrorCode, ReasonCode } from './reason-codes.js';

export interface FramedPacket {
  firstByte: number;
  /** The packet's bytes after the fixed header. */
  body: Buffer;
}

export class PacketReader {
  readonly #maxPacketBytes: number;
  /** The fixed header read so far: the first byte, then the length's bytes (at most 5 in all). */
  readonly #header = Buffer.alloc(5);
  #headerBytes = 0;
  /** The current packet's body once its length is known, and how much of it has arrived. */
  #body: Buffer | null = null;
  #bodyFilled = 0;
  #failed = false;

  constructor(maxPacketBytes: number) {
    this.#maxPacketBytes = maxPacketBytes;
  }

  /** Bytes held for the packet being read (the bound: `maxPacketBytes`). */
  get bufferedBytes(): number {
    return this.#headerBytes + (this.#body?.length ?? 0);
  }

  /**
   * Takes the next bytes of the stream and returns the packets they complete. Throws an
   * MqttError (MQTT_PACKET_TOO_LARGE) or a MalformedPacketError; the reader is dead after.
   */
  push(chunk: Buffer): FramedPacket[] {
    if (this.#failed) return [];
    try {
      return this.#read(chunk);
    } catch (err) {
      this.#failed = true;
      this.#body = null;
      this.#headerBytes = 0;
      throw err;
    }
  }

  #read(chunk: Buffer): FramedPacket[] {
    const packets: FramedPacket[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#body === null) {
        this.#header[this.#headerBytes++] = chunk[at++] as number;
        const length = this.#remainingLength();
        if (length === null) continue;
        this.#startBody(length);
        if (length > 0) continue;
      } else {
        const take = Math.min(chunk.length - at, this.#body.length - this.#bodyFilled);
        chunk.copy(this.#body, this.#bodyFilled, at, at + take);
        this.#bodyFilled += take;
        at += take;
      }
      if (this.#body !== null && this.#bodyFilled === this.#body.length) {
        packets.push({ firstByte: this.#header[0] as number, body: this.#body });
        this.#body = null;
        this.#headerBytes = 0;
      }
    }
    return packets;
  }

  /** The remaining length once its last byte has arrived, else null. */
  #remainingLength(): number | null {
    if (this.#headerBytes < 2) return null;
    const last = this.#header[this.#headerBytes - 1] as number;
    if ((last & 0x80) !== 0) {
      if (this.#headerBytes === 5)
        throw new MalformedPacketError('a remaining length longer than 4 bytes');
      return null;
    }
    let length = 0;
    for (let i = this.#headerBytes - 1; i >= 1; i--)
      length = length * 128 + ((this.#header[i] as number) & 0x7f);
    return length;
  }

  #startBody(length: number): void {
    const total = this.#headerBytes + length;
    if (total > this.#maxPacketBytes)
      throw new MqttError(
        MqttErrorCode.packetTooLarge,
        `the broker sent a ${total}-byte packet, over our Maximum Packet Size of ${this.#maxPacketBytes} bytes`,
        { reasonCode: ReasonCode.packetTooLarge },
      );
    this.#body = Buffer.allocUnsafe(length);
    this.#bodyFilled = 0;
  }
}
