/**
 * MQTT 5 properties (spec §2.2.2.2): the identifier table, and their encoding and decoding.
 * Only what the agent's packets carry is named; every identifier of the spec is known, so a
 * property the spec does not define, or one a packet may not carry, is a malformed packet
 * (§2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its packet
 * type … is a Malformed Packet").
 */
import { MalformedPacketError, ReasonCode } from './reason-codes.js';
import { ByteCursor, utf8Length, varintLength, writeUtf8, writeVarint } from './data-types.js';

/** The properties the agent sends or reads, by name. */
export interface Properties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  subscriptionIdentifier?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: boolean;
  userProperties?: Array<[string, string]>;
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifiersAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
}

type Kind = 'byte' | 'bool' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';

/** The packets (and the will) a property may appear in. */
export type PropertyPlace =
  'connect' | 'will' | 'connack' | 'publish' | 'puback' | 'subscribe' | 'suback' | 'disconnect';

interface PropertyDef {
  id: number;
  name: keyof Properties;
  kind: Kind;
  places: readonly PropertyPlace[];
}

/** Spec §2.2.2.2, table 2-4 (AUTH, UNSUBSCRIBE, PUBREC… are never exchanged by the agent). */
const DEFS: readonly PropertyDef[] = [
  { id: 0x01, name: 'payloadFormatIndicator', kind: 'bool', places: ['publish', 'will'] },
  { id: 0x02, name: 'messageExpiryInterval', kind: 'u32', places: ['publish', 'will'] },
  { id: 0x03, name: 'contentType', kind: 'utf8', places: ['publish', 'will'] },
  { id: 0x08, name: 'responseTopic', kind: 'utf8', places: ['publish', 'will'] },
  { id: 0x09, name: 'correlationData', kind: 'binary', places: ['publish', 'will'] },
  { id: 0x0b, name: 'subscriptionIdentifier', kind: 'varint', places: ['publish', 'subscribe'] },
  {
    id: 0x11,
    name: 'sessionExpiryInterval',
    kind: 'u32',
    places: ['connect', 'connack', 'disconnect'],
  },
  { id: 0x12, name: 'assignedClientIdentifier', kind: 'utf8', places: ['connack'] },
  { id: 0x13, name: 'serverKeepAlive', kind: 'u16', places: ['connack'] },
  { id: 0x15, name: 'authenticationMethod', kind: 'utf8', places: ['connect', 'connack'] },
  { id: 0x16, name: 'authenticationData', kind: 'binary', places: ['connect', 'connack'] },
  { id: 0x17, name: 'requestProblemInformation', kind: 'byte', places: ['connect'] },
  { id: 0x18, name: 'willDelayInterval', kind: 'u32', places: ['will'] },
  { id: 0x19, name: 'requestResponseInformation', kind: 'byte', places: ['connect'] },
  { id: 0x1a, name: 'responseInformation', kind: 'utf8', places: ['connack'] },
  { id: 0x1c, name: 'serverReference', kind: 'utf8', places: ['connack', 'disconnect'] },
  {
    id: 0x1f,
    name: 'reasonString',
    kind: 'utf8',
    places: ['connack', 'puback', 'suback', 'disconnect'],
  },
  { id: 0x21, name: 'receiveMaximum', kind: 'u16', places: ['connect', 'connack'] },
  { id: 0x22, name: 'topicAliasMaximum', kind: 'u16', places: ['connect', 'connack'] },
  { id: 0x23, name: 'topicAlias', kind: 'u16', places: ['publish'] },
  { id: 0x24, name: 'maximumQoS', kind: 'byte', places: ['connack'] },
  { id: 0x25, name: 'retainAvailable', kind: 'bool', places: ['connack'] },
  {
    id: 0x26,
    name: 'userProperties',
    kind: 'pair',
    places: [
      'connect',
      'will',
      'connack',
      'publish',
      'puback',
      'subscribe',
      'suback',
      'disconnect',
    ],
  },
  { id: 0x27, name: 'maximumPacketSize', kind: 'u32', places: ['connect', 'connack'] },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', kind: 'bool', places: ['connack'] },
  { id: 0x29, name: 'subscriptionIdentifiersAvailable', kind: 'bool', places: ['connack'] },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', kind: 'bool', places: ['connack'] },
];

const BY_ID = new Map(DEFS.map((def) => [def.id, def]));
const BY_NAME = new Map(DEFS.map((def) => [def.name, def]));

/** May appear more than once in one packet (all others at most once, §2.2.2.2). */
const REPEATABLE: ReadonlySet<keyof Properties> = new Set([
  'userProperties',
  'subscriptionIdentifier',
]);

function valueLength(kind: Kind, value: unknown): number {
  switch (kind) {
    case 'byte':
    case 'bool':
      return 1;
    case 'u16':
      return 2;
    case 'u32':
      return 4;
    case 'varint':
      return varintLength(value as number);
    case 'utf8':
      return utf8Length(value as string);
    case 'binary':
      return 2 + (value as Buffer).length;
    case 'pair':
      return (
        utf8Length((value as [string, string])[0]) + utf8Length((value as [string, string])[1])
      );
  }
}

/** Each property as (definition, one value): repeatable ones once per element. */
function entries(properties: Properties): Array<[PropertyDef, unknown]> {
  const out: Array<[PropertyDef, unknown]> = [];
  for (const [name, value] of Object.entries(properties)) {
    const def = BY_NAME.get(name as keyof Properties);
    if (!def) throw new TypeError(`unknown MQTT property ${name}`);
    if (value === undefined) continue;
    if (REPEATABLE.has(def.name)) for (const item of value as unknown[]) out.push([def, item]);
    else out.push([def, value]);
  }
  return out;
}

/** Bytes of the property block's content (without its own length prefix). */
export function propertiesLength(properties: Properties | undefined): number {
  if (!properties) return 0;
  let length = 0;
  for (const [def, value] of entries(properties)) length += 1 + valueLength(def.kind, value);
  return length;
}

/** Writes the property block (length prefix and content) at `offset`; returns the next offset. */
export function writeProperties(
  buffer: Buffer,
  offset: number,
  properties: Properties | undefined,
  contentLength: number,
): number {
  let at = writeVarint(buffer, offset, contentLength);
  if (!properties) return at;
  for (const [def, value] of entries(properties)) {
    at = writeVarint(buffer, at, def.id);
    switch (def.kind) {
      case 'byte':
        at = buffer.writeUInt8(value as number, at);
        break;
      case 'bool':
        at = buffer.writeUInt8(value ? 1 : 0, at);
        break;
      case 'u16':
        at = buffer.writeUInt16BE(value as number, at);
        break;
      case 'u32':
        at = buffer.writeUInt32BE(value as number, at);
        break;
      case 'varint':
        at = writeVarint(buffer, at, value as number);
        break;
      case 'utf8':
        at = writeUtf8(buffer, at, value as string);
        break;
      case 'binary':
        at = buffer.writeUInt16BE((value as Buffer).length, at);
        at += (value as Buffer).copy(buffer, at);
        break;
      case 'pair':
        at = writeUtf8(buffer, at, (value as [string, string])[0]);
        at = writeUtf8(buffer, at, (value as [string, string])[1]);
        break;
    }
  }
  return at;
}

function readValue(cursor: ByteCursor, def: PropertyDef): unknown {
  const what = `property ${def.name}`;
  switch (def.kind) {
    case 'byte':
      return cursor.u8(what);
    case 'bool': {
      const byte = cursor.u8(what);
      if (byte > 1) throw new MalformedPacketError(`${what} is ${byte}, not 0 or 1`);
      return byte === 1;
    }
    case 'u16':
      return cursor.u16(what);
    case 'u32':
      return cursor.u32(what);
    case 'varint':
      return cursor.varint(what);
    case 'utf8':
      return cursor.utf8(what);
    case 'binary':
      return Buffer.from(cursor.binary(what)); // a copy: the packet's buffer is not kept
    case 'pair':
      return [cursor.utf8(what), cursor.utf8(what)];
  }
}

/** Reads a property block (length prefix and content) for a packet of kind `place`. */
export function readProperties(cursor: ByteCursor, place: PropertyPlace): Properties {
  const length = cursor.varint('property length');
  cursor.need(length, 'properties');
  const end = cursor.offset + length;
  const inner = new ByteCursor(cursor.buffer, cursor.offset, end);
  const properties: Record<string, unknown> = {};
  while (inner.remaining > 0) {
    const id = inner.varint('property identifier');
    const def = BY_ID.get(id);
    if (!def) throw new MalformedPacketError(`unknown property 0x${id.toString(16)}`);
    if (!def.places.includes(place))
      throw new MalformedPacketError(`property ${def.name} is not allowed in ${place}`);
    const value = readValue(inner, def);
    if (REPEATABLE.has(def.name)) ((properties[def.name] ??= []) as unknown[]).push(value);
    else if (def.name in properties)
      throw new MalformedPacketError(
        `property ${def.name} appears twice`,
        ReasonCode.protocolError,
      );
    else properties[def.name] = value;
  }
  cursor.offset = end;
  return properties as Properties;
}
