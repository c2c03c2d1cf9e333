/**
 * Encoding and decoding of exactly the MQTT 5 packets the agent exchanges with a broker (spec
 * chapter 3), as pure functions. Sent: CONNECT, PUBLISH (QoS 0 and 1), PUBACK, SUBSCRIBE,
 * PINGREQ, DISCONNECT. Read: CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP, DISCONNECT; any other
 * packet type from a broker (AUTH, PUBREL…) is refused as a protocol error. Each packet is
 * encoded into one buffer sized first, so a publish costs one allocation.
 */
import { ByteCursor, utf8Length, varintLength, writeUtf8, writeVarint } from './data-types.js';
import {
  propertiesLength,
  readProperties,
  writeProperties,
  type Properties,
} from './properties.js';
import { MalformedPacketError, ReasonCode } from './reason-codes.js';

export const PacketType = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  auth: 15,
} as const;

export type QoS = 0 | 1 | 2;

export interface WillMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
}

export interface ConnectPacket {
  clientId: string;
  username?: string;
  password?: string | Buffer;
  cleanStart: boolean;
  keepAliveS: number;
  properties?: Properties;
  will?: WillMessage;
}

export interface PublishPacket {
  topic: string;
  payload: Buffer | string;
  qos: QoS;
  retain: boolean;
  dup?: boolean;
  /** Present for QoS 1 and 2 (1–65535). */
  packetId?: number;
  properties?: Properties;
}

export interface SubscribePacket {
  packetId: number;
  subscriptions: Array<{ topic: string; qos: QoS }>;
  properties?: Properties;
}

export type IncomingPacket =
  | { type: 'connack'; sessionPresent: boolean; reasonCode: number; properties: Properties }
  | ({ type: 'publish'; payload: Buffer; properties: Properties } & Omit<
      PublishPacket,
      'payload' | 'properties'
    >)
  | { type: 'puback'; packetId: number; reasonCode: number; properties: Properties }
  | { type: 'suback'; packetId: number; reasonCodes: number[]; properties: Properties }
  | { type: 'pingresp' }
  | { type: 'disconnect'; reasonCode: number; properties: Properties };

/** One buffer for a whole packet, its fixed header written; returns it and where the body starts. */
function packetBuffer(firstByte: number, remainingLength: number): [Buffer, number] {
  const buffer = Buffer.allocUnsafe(1 + varintLength(remainingLength) + remainingLength);
  buffer[0] = firstByte;
  return [buffer, writeVarint(buffer, 1, remainingLength)];
}

/** Bytes of a property block: its length prefix and content. */
function blockLength(properties: Properties | undefined): [number, number] {
  const content = propertiesLength(properties);
  return [content, varintLength(content) + content];
}

const PROTOCOL_NAME = 'MQTT';
const PROTOCOL_LEVEL = 5;

export function encodeConnect(packet: ConnectPacket): Buffer {
  const [propsContent, propsBytes] = blockLength(packet.properties);
  const will = packet.will;
  const [willContent, willBytes] = blockLength(will?.properties);
  const password =
    typeof packet.password === 'string' ? Buffer.from(packet.password) : packet.password;
  const length =
    utf8Length(PROTOCOL_NAME) +
    1 + // protocol level
    1 + // connect flags
    2 + // keep alive
    propsBytes +
    utf8Length(packet.clientId) +
    (will ? willBytes + utf8Length(will.topic) + 2 + will.payload.length : 0) +
    (packet.username !== undefined ? utf8Length(packet.username) : 0) +
    (password ? 2 + password.length : 0);
  const flags =
    (packet.username !== undefined ? 0x80 : 0) |
    (password ? 0x40 : 0) |
    (will?.retain ? 0x20 : 0) |
    ((will?.qos ?? 0) << 3) |
    (will ? 0x04 : 0) |
    (packet.cleanStart ? 0x02 : 0);
  const [buffer, start] = packetBuffer(PacketType.connect << 4, length);
  let at = writeUtf8(buffer, start, PROTOCOL_NAME);
  at = buffer.writeUInt8(PROTOCOL_LEVEL, at);
  at = buffer.writeUInt8(flags, at);
  at = buffer.writeUInt16BE(packet.keepAliveS, at);
  at = writeProperties(buffer, at, packet.properties, propsContent);
  at = writeUtf8(buffer, at, packet.clientId);
  if (will) {
    at = writeProperties(buffer, at, will.properties, willContent);
    at = writeUtf8(buffer, at, will.topic);
    at = buffer.writeUInt16BE(will.payload.length, at);
    at += will.payload.copy(buffer, at);
  }
  if (packet.username !== undefined) at = writeUtf8(buffer, at, packet.username);
  if (password) {
    at = buffer.writeUInt16BE(password.length, at);
    password.copy(buffer, at);
  }
  return buffer;
}

export function encodePublish(packet: PublishPacket): Buffer {
  const [propsContent, propsBytes] = blockLength(packet.properties);
  const payloadBytes =
    typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length;
  const length = utf8Length(packet.topic) + (packet.qos > 0 ? 2 : 0) + propsBytes + payloadBytes;
  const firstByte =
    (PacketType.publish << 4) |
    (packet.dup ? 0x08 : 0) |
    (packet.qos << 1) |
    (packet.retain ? 0x01 : 0);
  const [buffer, start] = packetBuffer(firstByte, length);
  let at = writeUtf8(buffer, start, packet.topic);
  if (packet.qos > 0) at = buffer.writeUInt16BE(packet.packetId ?? 0, at);
  at = writeProperties(buffer, at, packet.properties, propsContent);
  if (typeof packet.payload === 'string') buffer.write(packet.payload, at);
  else packet.payload.copy(buffer, at);
  return buffer;
}

/** A PUBACK: the short form (packet id only) for success, as §3.4.2.1 allows. */
export function encodePuback(packetId: number, reasonCode: number = ReasonCode.success): Buffer {
  const short = reasonCode === ReasonCode.success;
  const [buffer, start] = packetBuffer(PacketType.puback << 4, short ? 2 : 3);
  const at = buffer.writeUInt16BE(packetId, start);
  if (!short) buffer.writeUInt8(reasonCode, at);
  return buffer;
}

export function encodeSubscribe(packet: SubscribePacket): Buffer {
  const [propsContent, propsBytes] = blockLength(packet.properties);
  const length =
    2 +
    propsBytes +
    packet.subscriptions.reduce((sum, { topic }) => sum + utf8Length(topic) + 1, 0);
  // SUBSCRIBE's fixed-header flags are 0b0010 (§3.8.1).
  const [buffer, start] = packetBuffer((PacketType.subscribe << 4) | 0x02, length);
  let at = buffer.writeUInt16BE(packet.packetId, start);
  at = writeProperties(buffer, at, packet.properties, propsContent);
  for (const { topic, qos } of packet.subscriptions) {
    at = writeUtf8(buffer, at, topic);
    at = buffer.writeUInt8(qos, at); // no local, retain as published, retain handling: all 0
  }
  return buffer;
}

export function encodePingreq(): Buffer {
  return Buffer.from([PacketType.pingreq << 4, 0]);
}

/** A DISCONNECT: no body for a normal one, else the reason code alone. */
export function encodeDisconnect(reasonCode: number = ReasonCode.success): Buffer {
  if (reasonCode === ReasonCode.success) return Buffer.from([PacketType.disconnect << 4, 0]);
  return Buffer.from([PacketType.disconnect << 4, 1, reasonCode]);
}

function noFlags(flags: number, what: string): void {
  if (flags !== 0) throw new MalformedPacketError(`${what} with reserved flags ${flags}`);
}

function packetId(cursor: ByteCursor, what: string): number {
  const id = cursor.u16(`${what} packet identifier`);
  if (id === 0) throw new MalformedPacketError(`${what} with packet identifier 0`);
  return id;
}

function decodeConnack(cursor: ByteCursor): IncomingPacket {
  const ackFlags = cursor.u8('CONNACK flags');
  if ((ackFlags & 0xfe) !== 0)
    throw new MalformedPacketError(`CONNACK with reserved flags ${ackFlags}`);
  const reasonCode = cursor.u8('CONNACK reason code');
  const properties = readProperties(cursor, 'connack');
  return { type: 'connack', sessionPresent: (ackFlags & 1) === 1, reasonCode, properties };
}

function decodePublish(flags: number, cursor: ByteCursor): IncomingPacket {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) throw new MalformedPacketError('PUBLISH with QoS 3');
  const dup = (flags & 0x08) !== 0;
  if (dup && qos === 0) throw new MalformedPacketError('PUBLISH with DUP set at QoS 0');
  const topic = cursor.utf8('PUBLISH topic');
  const id = qos > 0 ? packetId(cursor, 'PUBLISH') : undefined;
  const properties = readProperties(cursor, 'publish');
  if (topic.includes('#') || topic.includes('+'))
    throw new MalformedPacketError(
      `PUBLISH to the topic filter ${JSON.stringify(topic)}`,
      ReasonCode.protocolError,
    );
  return {
    type: 'publish',
    topic,
    qos: qos as QoS,
    retain: (flags & 0x01) !== 0,
    dup,
    ...(id !== undefined ? { packetId: id } : {}),
    properties,
    payload: cursor.rest(),
  };
}

/** PUBACK and DISCONNECT may end after any field: what is missing is success, no properties. */
function reasonAndProperties(
  cursor: ByteCursor,
  place: 'puback' | 'disconnect',
): { reasonCode: number; properties: Properties } {
  const reasonCode = cursor.remaining > 0 ? cursor.u8(`${place} reason code`) : ReasonCode.success;
  const properties = cursor.remaining > 0 ? readProperties(cursor, place) : {};
  return { reasonCode, properties };
}

function decodeSuback(cursor: ByteCursor): IncomingPacket {
  const id = packetId(cursor, 'SUBACK');
  const properties = readProperties(cursor, 'suback');
  const reasonCodes = [...cursor.rest()];
  if (reasonCodes.length === 0) throw new MalformedPacketError('SUBACK with no reason code');
  return { type: 'suback', packetId: id, reasonCodes, properties };
}

/**
 * One packet from the broker: the fixed header's first byte and the body (the remaining length's
 * bytes, framed by PacketReader). Throws MalformedPacketError for bytes the spec forbids, a
 * packet a broker may not send, or bytes left over after the packet's last field.
 */
export function decodePacket(firstByte: number, body: Buffer): IncomingPacket {
  const type = firstByte >> 4;
  const flags = firstByte & 0x0f;
  const cursor = new ByteCursor(body);
  let packet: IncomingPacket;
  switch (type) {
    case PacketType.connack:
      noFlags(flags, 'CONNACK');
      packet = decodeConnack(cursor);
      break;
    case PacketType.publish:
      packet = decodePublish(flags, cursor);
      break;
    case PacketType.puback:
      noFlags(flags, 'PUBACK');
      packet = {
        type: 'puback',
        packetId: packetId(cursor, 'PUBACK'),
        ...reasonAndProperties(cursor, 'puback'),
      };
      break;
    case PacketType.suback:
      noFlags(flags, 'SUBACK');
      packet = decodeSuback(cursor);
      break;
    case PacketType.pingresp:
      noFlags(flags, 'PINGRESP');
      packet = { type: 'pingresp' };
      break;
    case PacketType.disconnect:
      noFlags(flags, 'DISCONNECT');
      packet = { type: 'disconnect', ...reasonAndProperties(cursor, 'disconnect') };
      break;
    default:
      throw new MalformedPacketError(
        `packet type ${type} is not one a broker sends this client`,
        ReasonCode.protocolError,
      );
  }
  if (cursor.remaining > 0)
    throw new MalformedPacketError(`${cursor.remaining} bytes after the end of a ${packet.type}`);
  return packet;
}
