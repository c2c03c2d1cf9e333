import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { MqttClient } from '../../src/agent/mqtt/mqtt-client.js';
import { decodePacket } from '../../src/agent/mqtt/packet-codec.js';
import { PacketReader } from '../../src/agent/mqtt/packet-reader.js';
import {
  MalformedPacketError,
  MqttError,
  MqttErrorCode,
} from '../../src/agent/mqtt/reason-codes.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { waitFor } from '../helpers/ws.js';

const MAX_PACKET_BYTES = 512;
const ROUNDS = 2_000;

/** Valid packets a broker sends, as mqtt-packet writes them: the seeds of the mutations. */
const VALID: Buffer[] = (
  [
    { cmd: 'connack', sessionPresent: true, reasonCode: 0, properties: { receiveMaximum: 10 } },
    {
      cmd: 'publish',
      topic: 'iottly/v1/devices/dev1/down',
      payload: Buffer.from('{"type":"command"}'),
      qos: 1,
      messageId: 5,
      retain: false,
      dup: false,
      properties: { payloadFormatIndicator: true, contentType: 'application/json' },
    },
    { cmd: 'puback', messageId: 1, reasonCode: 0x10, properties: { reasonString: 'none' } },
    { cmd: 'suback', messageId: 2, granted: [1] },
    { cmd: 'pingresp' },
    { cmd: 'disconnect', reasonCode: 0x8e, properties: { reasonString: 'taken over' } },
  ] as Packet[]
).map((packet) => mqttPacket.generate(packet, { protocolVersion: 5 }));

/** Random bytes, or a valid packet with a few bytes changed, cut or extended. */
function hostileBytes(random: () => number): Buffer {
  const pick = (n: number) => Math.floor(random() * n);
  if (random() < 0.3) return Buffer.from(Array.from({ length: pick(64) + 1 }, () => pick(256)));
  const bytes = Buffer.from(VALID[pick(VALID.length)] as Buffer);
  for (let i = pick(4) + 1; i > 0; i--) bytes[pick(bytes.length)] = pick(256);
  if (random() < 0.2) return bytes.subarray(0, pick(bytes.length) + 1);
  if (random() < 0.2) return Buffer.concat([bytes, Buffer.from([pick(256), pick(256)])]);
  return bytes;
}

/** Cuts bytes into random chunks, as TCP may deliver them. */
function chunks(bytes: Buffer, random: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = 1 + Math.floor(random() * 16);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

const CLEAR_CODES = new Set<string>([MqttErrorCode.protocolError, MqttErrorCode.packetTooLarge]);

describe('MQTT reader and decoder under hostile bytes', () => {
  it('the reader never holds more than the bound, and only ever throws its own errors', () => {
    const random = seededRandom(1);
    for (let round = 0; round < ROUNDS; round++) {
      const reader = new PacketReader(MAX_PACKET_BYTES);
      const stream = Buffer.concat(Array.from({ length: 4 }, () => hostileBytes(random)));
      let failed = false;
      for (const chunk of chunks(stream, random)) {
        try {
          for (const { firstByte, body } of reader.push(chunk)) {
            assert.ok(body.length < MAX_PACKET_BYTES, `round ${round}`);
            try {
              decodePacket(firstByte, body);
            } catch (err) {
              assert.ok(err instanceof MalformedPacketError, `round ${round}: ${String(err)}`);
            }
          }
        } catch (err) {
          assert.ok(
            err instanceof MalformedPacketError ||
              (err instanceof MqttError && err.code === MqttErrorCode.packetTooLarge),
            `round ${round}: ${String(err)}`,
          );
          failed = true;
        }
        assert.ok(reader.bufferedBytes <= MAX_PACKET_BYTES, `round ${round}`);
        if (failed)
          assert.deepEqual(reader.push(Buffer.from([0xd0, 0])), [], 'dead after an error');
      }
    }
  });

  it('the client never throws, stays within the bound, and ends with a clear error or keeps going', async () => {
    const random = seededRandom(2);
    let endedWithError = 0;
    for (let round = 0; round < 300; round++) {
      const socket = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
      const client = new MqttClient(
        'mqtt://broker.test',
        {
          clientId: 'dev1',
          clean: false,
          keepalive: 0,
          connectTimeout: 5_000,
          properties: { maximumPacketSize: MAX_PACKET_BYTES },
          clock: new FakeClock(),
        },
        () => socket,
      );
      const errors: Error[] = [];
      let closed = 0;
      client.on('error', (err) => errors.push(err));
      client.on('close', () => closed++);
      client.on('message', () => {});
      client.connect();
      socket.push(VALID[0] as Buffer); // the CONNACK: what follows reaches an open client
      for (let i = 0; i < 4; i++)
        for (const chunk of chunks(hostileBytes(random), random)) socket.push(chunk);
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(client.readBufferedBytes <= MAX_PACKET_BYTES, `round ${round}`);
      if (client.state === 'open') client.end(true); // only incomplete or valid packets came
      await waitFor(() => closed === 1);
      assert.ok(errors.length <= 1, `round ${round}: error at most once`);
      const [err] = errors;
      if (err) {
        endedWithError++;
        assert.ok(
          err instanceof MqttError && CLEAR_CODES.has(err.code),
          `round ${round}: ${String(err)}`,
        );
        assert.match(err.message, /the broker sent/);
      }
    }
    assert.ok(endedWithError > 100, `most hostile inputs end the connection (${endedWithError})`);
  });
});
