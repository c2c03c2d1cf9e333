import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
// MQTT.js's own codec (installed with `mqtt`, which the hubs use): the reference our packets
// must agree with byte for byte in meaning.
import mqttPacket, { type Packet } from 'mqtt-packet';
import {
  decodePacket,
  encodeConnect,
  encodeDisconnect,
  encodePingreq,
  encodePuback,
  encodePublish,
  encodeSubscribe,
  type IncomingPacket,
} from '../../src/agent/mqtt/packet-codec.js';
import { PacketReader } from '../../src/agent/mqtt/packet-reader.js';
import { MalformedPacketError } from '../../src/agent/mqtt/reason-codes.js';

const V5 = { protocolVersion: 5 };

/** What mqtt-packet reads from our bytes (exactly one packet, nothing left over). */
function parsedByReference(bytes: Buffer): Packet {
  const parser = mqttPacket.parser(V5);
  const packets: Packet[] = [];
  const errors: Error[] = [];
  parser.on('packet', (packet: Packet) => packets.push(packet));
  parser.on('error', (err: Error) => errors.push(err));
  const left = parser.parse(bytes);
  assert.deepEqual(errors, []);
  assert.equal(left, 0, 'no bytes left over');
  assert.equal(packets.length, 1);
  return packets[0] as Packet;
}

/** What our decoder reads from mqtt-packet's bytes, framed by our reader. */
function decodedFromReference(packet: Packet): IncomingPacket {
  const framed = new PacketReader(1 << 20).push(mqttPacket.generate(packet, V5));
  assert.equal(framed.length, 1);
  const [{ firstByte, body }] = framed as [{ firstByte: number; body: Buffer }];
  return decodePacket(firstByte, body);
}

/** mqtt-packet's plain objects, without its own bookkeeping fields. */
function plain(packet: Packet): Record<string, unknown> {
  const copy = { ...packet } as Packet & { length?: number };
  delete copy.length;
  return JSON.parse(JSON.stringify(copy)) as Record<string, unknown>;
}

/** CONNACK properties a broker may state (every kind of value: two-byte, four-byte, byte, boolean, string). */
const BROKER_LIMITS = {
  receiveMaximum: 20,
  maximumPacketSize: 4096,
  serverKeepAlive: 10,
  topicAliasMaximum: 5,
  maximumQoS: 1,
  retainAvailable: true,
  assignedClientIdentifier: 'abc',
};

describe('MQTT 5 packet codec against mqtt-packet', () => {
  it('CONNECT with credentials, properties and a will reads back as sent', () => {
    const bytes = encodeConnect({
      clientId: 'dev1',
      username: 'dev1',
      password: 'tøken',
      cleanStart: false,
      keepAliveS: 30,
      properties: { sessionExpiryInterval: 3_600, maximumPacketSize: 1_064_960 },
      will: {
        topic: 'iottly/v1/devices/dev1/presence',
        payload: Buffer.from('{"online":false}'),
        qos: 1,
        retain: true,
        properties: { payloadFormatIndicator: true, contentType: 'application/json' },
      },
    });
    const packet = parsedByReference(bytes) as Packet & Record<string, unknown>;
    assert.equal(packet.cmd, 'connect');
    assert.equal(packet.protocolId, 'MQTT');
    assert.equal(packet.protocolVersion, 5);
    assert.equal(packet.clientId, 'dev1');
    assert.equal(packet.username, 'dev1');
    assert.equal(String(packet.password), 'tøken');
    assert.equal(packet.clean, false);
    assert.equal(packet.keepalive, 30);
    assert.deepEqual(packet.properties, {
      sessionExpiryInterval: 3_600,
      maximumPacketSize: 1_064_960,
    });
    const will = packet.will as Record<string, unknown>;
    assert.equal(will.topic, 'iottly/v1/devices/dev1/presence');
    assert.equal(String(will.payload), '{"online":false}');
    assert.equal(will.qos, 1);
    assert.equal(will.retain, true);
    assert.deepEqual(will.properties, {
      payloadFormatIndicator: true,
      contentType: 'application/json',
    });
  });

  it('CONNECT without credentials or will, clean start on', () => {
    const packet = parsedByReference(
      encodeConnect({ clientId: 'x', cleanStart: true, keepAliveS: 0 }),
    ) as Packet & Record<string, unknown>;
    assert.equal(packet.clean, true);
    assert.equal(packet.username, undefined);
    assert.equal(packet.will, undefined);
  });

  it('PUBLISH at QoS 1 and 0, string or bytes, reads back as sent both ways', () => {
    const properties = { payloadFormatIndicator: true, contentType: 'application/json' };
    for (const [qos, payload] of [
      [1, '{"é":"ü"}'],
      [0, Buffer.from([0, 1, 2, 255])],
      [1, 'x'.repeat(300_000)], // a remaining length of three bytes
    ] as const) {
      const ours = parsedByReference(
        encodePublish({
          topic: 'iottly/v1/devices/dev1/up',
          payload,
          qos,
          retain: qos === 1,
          ...(qos === 1 ? { packetId: 7 } : {}),
          properties,
        }),
      ) as Packet & Record<string, unknown>;
      assert.equal(ours.topic, 'iottly/v1/devices/dev1/up');
      assert.deepEqual(ours.payload, Buffer.from(payload));
      assert.equal(ours.qos, qos);
      assert.equal(ours.retain, qos === 1);
      assert.equal(ours.messageId, qos === 1 ? 7 : undefined);
      assert.deepEqual(ours.properties, properties);

      const theirs = decodedFromReference({
        cmd: 'publish',
        topic: 'iottly/v1/devices/dev1/down',
        payload: Buffer.from(payload),
        qos,
        retain: false,
        dup: qos === 1,
        ...(qos === 1 ? { messageId: 65_535 } : {}),
        properties: { ...properties, userProperties: { a: 'b' } },
      });
      assert.deepEqual(theirs, {
        type: 'publish',
        topic: 'iottly/v1/devices/dev1/down',
        qos,
        retain: false,
        dup: qos === 1,
        ...(qos === 1 ? { packetId: 65_535 } : {}),
        properties: { ...properties, userProperties: [['a', 'b']] },
        payload: Buffer.from(payload),
      });
    }
  });

  it('PUBACK: the short success form and a refusal with a reason string, both ways', () => {
    assert.deepEqual(plain(parsedByReference(encodePuback(9))), {
      cmd: 'puback',
      retain: false,
      qos: 0,
      dup: false,
      topic: null,
      payload: null,
      messageId: 9,
      reasonCode: 0,
    });
    assert.equal(
      (parsedByReference(encodePuback(9, 0x87)) as Packet & { reasonCode: number }).reasonCode,
      0x87,
    );
    assert.deepEqual(decodedFromReference({ cmd: 'puback', messageId: 3 }), {
      type: 'puback',
      packetId: 3,
      reasonCode: 0,
      properties: {},
    });
    assert.deepEqual(
      decodedFromReference({
        cmd: 'puback',
        messageId: 3,
        reasonCode: 0x97,
        properties: { reasonString: 'quota' },
      }),
      { type: 'puback', packetId: 3, reasonCode: 0x97, properties: { reasonString: 'quota' } },
    );
  });

  it('SUBSCRIBE reads back as sent; SUBACK decodes granted QoS and refusals', () => {
    const packet = parsedByReference(
      encodeSubscribe({
        packetId: 12,
        subscriptions: [{ topic: 'iottly/v1/devices/dev1/down', qos: 1 }],
      }),
    ) as Packet & Record<string, unknown>;
    assert.equal(packet.cmd, 'subscribe');
    assert.equal(packet.messageId, 12);
    assert.deepEqual(packet.subscriptions, [
      { topic: 'iottly/v1/devices/dev1/down', qos: 1, nl: false, rap: false, rh: 0 },
    ]);
    assert.deepEqual(
      decodedFromReference({
        cmd: 'suback',
        messageId: 12,
        granted: [1, 0x87],
        properties: { reasonString: 'partly' },
      }),
      {
        type: 'suback',
        packetId: 12,
        reasonCodes: [1, 0x87],
        properties: { reasonString: 'partly' },
      },
    );
  });

  it('CONNACK decodes session present, the reason and the broker limits', () => {
    assert.deepEqual(
      decodedFromReference({
        cmd: 'connack',
        sessionPresent: true,
        reasonCode: 0,
        properties: BROKER_LIMITS,
      }),
      {
        type: 'connack',
        sessionPresent: true,
        reasonCode: 0,
        properties: BROKER_LIMITS,
      },
    );
    assert.deepEqual(
      decodedFromReference({ cmd: 'connack', sessionPresent: false, reasonCode: 0x86 }),
      { type: 'connack', sessionPresent: false, reasonCode: 0x86, properties: {} },
    );
  });

  it('PINGREQ, PINGRESP and DISCONNECT (normal, with a reason), both ways where both are used', () => {
    assert.equal(parsedByReference(encodePingreq()).cmd, 'pingreq');
    assert.deepEqual(decodedFromReference({ cmd: 'pingresp' }), { type: 'pingresp' });
    assert.equal(
      (parsedByReference(encodeDisconnect()) as Packet & { reasonCode: number }).reasonCode,
      0,
    );
    assert.equal(
      (parsedByReference(encodeDisconnect(0x81)) as Packet & { reasonCode: number }).reasonCode,
      0x81,
    );
    assert.deepEqual(
      decodedFromReference({
        cmd: 'disconnect',
        reasonCode: 0x8e,
        properties: { reasonString: 'session taken over' },
      }),
      {
        type: 'disconnect',
        reasonCode: 0x8e,
        properties: { reasonString: 'session taken over' },
      },
    );
  });

  it('refuses what the spec calls malformed: unknown or misplaced properties, bad UTF-8, packets a broker never sends', () => {
    const refused = (firstByte: number, body: number[], pattern: RegExp): void =>
      assert.throws(
        () => decodePacket(firstByte, Buffer.from(body)),
        (err: unknown) => err instanceof MalformedPacketError && pattern.test(err.message),
      );
    refused(0x20, [0, 0, 2, 0x05, 0], /unknown property 0x5/); // CONNACK, property 0x05
    refused(0x20, [0, 0, 2, 0x01, 1], /payloadFormatIndicator is not allowed in connack/);
    refused(0x20, [0, 0, 6, 0x21, 0, 1, 0x21, 0, 2], /receiveMaximum appears twice/);
    refused(0x20, [0, 0, 5, 0x12, 0, 2, 0xc3, 0x28], /not well-formed UTF-8/);
    refused(0x30, [0, 3, 0x61, 0, 0x62, 0], /contains U\+0000/);
    refused(0x20, [2, 0, 0], /reserved flags/);
    refused(0x36, [0, 1, 0x61, 0, 1, 0], /QoS 3/);
    refused(0x32, [0, 1, 0x61, 0, 0, 0], /packet identifier 0/);
    refused(0x30, [0, 1, 0x23, 0], /topic filter/);
    refused(0x20, [0, 0, 0, 9], /bytes after the end/);
    refused(0x20, [0, 0, 4, 0x11, 0, 0], /4 bytes needed/);
    refused(0x20, [0, 0, 0x80, 0x80, 0x80, 0x80, 0x01], /longer than 4 bytes/);
    refused(0xf0, [0], /packet type 15/);
    refused(0x62, [0, 1, 0], /packet type 6/);
  });
});
