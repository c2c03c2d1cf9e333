import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { MqttClient, type MqttClientOptions } from '../../src/agent/mqtt/mqtt-client.js';
import { MqttError, MqttErrorCode } from '../../src/agent/mqtt/reason-codes.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { waitFor } from '../helpers/ws.js';

const V5 = { protocolVersion: 5 };
const MAX_PACKET_BYTES = 64 * 1024;

/**
 * The client over an in-memory socket: the test plays the broker, writing mqtt-packet's bytes
 * and reading what the client wrote with mqtt-packet's parser.
 */
function setup(options: Partial<MqttClientOptions> = {}) {
  const clock = new FakeClock();
  const sent: Packet[] = [];
  const parser = mqttPacket.parser(V5);
  parser.on('packet', (packet: Packet) => sent.push(packet));
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      parser.parse(chunk);
      done();
    },
    writev(chunks, done) {
      for (const { chunk } of chunks) parser.parse(chunk as Buffer);
      done();
    },
  });
  const client = new MqttClient(
    'mqtt://broker.test',
    {
      clientId: 'dev1',
      username: 'dev1',
      password: 'tok',
      clean: false,
      keepalive: 10,
      connectTimeout: 5_000,
      properties: { sessionExpiryInterval: 60, maximumPacketSize: MAX_PACKET_BYTES },
      clock,
      ...options,
    },
    () => socket,
  );
  const events: string[] = [];
  const errors: Error[] = [];
  client.on('error', (err) => {
    events.push('error');
    errors.push(err);
  });
  client.on('close', () => events.push('close'));
  client.connect();
  const broker = {
    send: (packet: Packet) => socket.push(mqttPacket.generate(packet, V5)),
    bytes: (bytes: Buffer) => socket.push(bytes),
    connack: (properties: Record<string, unknown> = {}) =>
      broker.send({ cmd: 'connack', sessionPresent: false, reasonCode: 0, properties }),
  };
  const sentOf = (cmd: string) =>
    sent.filter((p) => p.cmd === cmd) as Array<Packet & Record<string, unknown>>;
  return { clock, client, socket, sent, sentOf, events, errors, broker };
}

/** Waits for the in-memory socket to deliver what was pushed (it emits on a later tick). */
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('MqttClient over an in-memory socket', () => {
  it('sends CONNECT first and goes open at a successful CONNACK, with session present', async () => {
    const t = setup();
    const connacks: unknown[] = [];
    t.client.on('connect', (connack) => connacks.push(connack));
    await settled();
    assert.equal(t.sent[0]?.cmd, 'connect');
    t.broker.send({
      cmd: 'connack',
      sessionPresent: true,
      reasonCode: 0,
      properties: { receiveMaximum: 4 },
    });
    await settled();
    assert.equal(t.client.state, 'open');
    assert.deepEqual(connacks, [
      { sessionPresent: true, reasonCode: 0, properties: { receiveMaximum: 4 } },
    ]);
  });

  it('a CONNACK refusal is an MQTT_REFUSED error with the reason, then close', async () => {
    const t = setup();
    t.broker.send({ cmd: 'connack', sessionPresent: false, reasonCode: 0x86 });
    await waitFor(() => t.events.includes('close'));
    assert.deepEqual(t.events, ['error', 'close']);
    const err = t.errors[0] as MqttError;
    assert.equal(err.code, MqttErrorCode.refused);
    assert.equal(err.reasonCode, 0x86);
    assert.match(err.message, /0x86 bad user name or password/);
  });

  it('no CONNACK within the connect timeout: MQTT_CONNECT_TIMEOUT, then close', async () => {
    const t = setup();
    t.clock.advance(5_000);
    await waitFor(() => t.events.includes('close'));
    assert.equal((t.errors[0] as MqttError).code, MqttErrorCode.connectTimeout);
  });

  it('QoS 1: each PUBACK completes its own publish, a reason ≥ 0x80 is a refusal', async () => {
    const t = setup();
    t.broker.connack();
    await settled();
    const results: Array<string> = [];
    for (const n of [1, 2, 3])
      t.client.publish(`t/${n}`, `m${n}`, { qos: 1, retain: false }, (err) =>
        results.push(err ? `${n}:${(err as MqttError).reasonCode}` : `${n}:ok`),
      );
    await settled();
    const ids = t.sentOf('publish').map((p) => p.messageId as number);
    assert.equal(new Set(ids).size, 3);
    t.broker.send({ cmd: 'puback', messageId: ids[2] as number, reasonCode: 0x97 });
    t.broker.send({ cmd: 'puback', messageId: ids[0] as number });
    await settled();
    assert.deepEqual(results, ['3:151', '1:ok']);
    t.client.end(true);
    await waitFor(() => t.events.includes('close'));
    assert.deepEqual(results, ['3:151', '1:ok', '2:undefined'], 'cut off by the close');
  });

  it('a PUBACK for a packet id awaiting none is a protocol error: DISCONNECT 0x82, then close', async () => {
    const t = setup();
    t.broker.connack();
    t.broker.send({ cmd: 'puback', messageId: 99 });
    await waitFor(() => t.events.includes('close'));
    assert.equal((t.errors[0] as MqttError).code, MqttErrorCode.protocolError);
    assert.equal(t.sentOf('disconnect')[0]?.reasonCode, 0x82);
  });

  it('answers an incoming QoS 1 PUBLISH with PUBACK after delivering it', async () => {
    const t = setup();
    const messages: string[] = [];
    t.client.on('message', (topic, payload) => messages.push(`${topic} ${payload.toString()}`));
    t.broker.connack();
    t.broker.send({
      cmd: 'publish',
      topic: 'a/b',
      payload: Buffer.from('hi'),
      qos: 1,
      messageId: 42,
      retain: false,
      dup: false,
    });
    await waitFor(() => t.sentOf('puback').length === 1);
    assert.deepEqual(messages, ['a/b hi']);
    assert.equal(t.sentOf('puback')[0]?.messageId, 42);
  });

  it('refuses a QoS 2 PUBLISH (we subscribe with QoS 1) and a topic alias (we allow none)', async () => {
    for (const [extra, reason] of [
      [{ qos: 2, messageId: 1 }, 0x82],
      [{ qos: 0, properties: { topicAlias: 1 } }, 0x94],
    ] as const) {
      const t = setup();
      t.client.on('message', () => assert.fail('not delivered'));
      t.broker.connack();
      t.broker.send({
        cmd: 'publish',
        topic: 'a/b',
        payload: Buffer.from('x'),
        retain: false,
        dup: false,
        ...extra,
      } as Packet);
      await waitFor(() => t.events.includes('close'));
      assert.equal((t.errors[0] as MqttError).code, MqttErrorCode.protocolError);
      assert.equal(t.sentOf('disconnect')[0]?.reasonCode, reason);
    }
  });

  it('a packet announced over our Maximum Packet Size ends the connection before its body is buffered', async () => {
    const t = setup();
    t.broker.connack();
    // A PUBLISH header announcing 10 MiB, and its first bytes.
    t.broker.bytes(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x05, 0, 1, 0x61]));
    await waitFor(() => t.events.includes('close'));
    const err = t.errors[0] as MqttError;
    assert.equal(err.code, MqttErrorCode.packetTooLarge);
    assert.match(err.message, /10485765-byte packet, over our Maximum Packet Size of 65536 bytes/);
    assert.equal(t.client.readBufferedBytes, 0);
    assert.equal(t.sentOf('disconnect')[0]?.reasonCode, 0x95);
  });

  it('does not send a publish over the broker’s Maximum Packet Size', async () => {
    const t = setup();
    t.broker.connack({ maximumPacketSize: 100 });
    await settled();
    const err = await new Promise<Error | undefined>((resolve) =>
      t.client.publish('t', 'x'.repeat(200), { qos: 1, retain: false }, resolve),
    );
    assert.equal((err as MqttError).code, MqttErrorCode.publishTooLarge);
    assert.equal(t.sentOf('publish').length, 0);
    assert.equal(t.client.state, 'open');
  });

  it('keep-alive: a PINGREQ after the broker heard nothing for the interval; no answer within another ends it', async () => {
    const t = setup({ keepalive: 10 });
    t.broker.connack({ serverKeepAlive: 4 }); // the broker's keep-alive wins
    await settled();
    t.clock.advance(3_000);
    t.client.publish('t', 'x', { qos: 0, retain: false });
    t.clock.advance(2_000); // 4 s since CONNACK, 2 s since the publish
    await settled();
    assert.equal(t.sentOf('pingreq').length, 0, 'the publish counted as traffic');
    t.clock.advance(2_000);
    await settled();
    assert.equal(t.sentOf('pingreq').length, 1);
    t.broker.send({ cmd: 'pingresp' });
    await settled();
    t.clock.advance(4_000);
    await settled();
    assert.equal(t.sentOf('pingreq').length, 2);
    assert.equal(t.client.state, 'open', 'the PINGRESP kept it alive');
    t.clock.advance(4_000);
    await waitFor(() => t.events.includes('close'));
    assert.equal((t.errors[0] as MqttError).code, MqttErrorCode.keepAliveTimeout);
  });

  it('a server DISCONNECT is told with its reason, then close, and no error', async () => {
    const t = setup();
    const disconnects: number[] = [];
    t.client.on('disconnect', (packet) => disconnects.push(packet.reasonCode));
    t.broker.connack();
    t.broker.send({ cmd: 'disconnect', reasonCode: 0x8e });
    await waitFor(() => t.events.includes('close'));
    assert.deepEqual(disconnects, [0x8e]);
    assert.deepEqual(t.events, ['close']);
  });

  it('end(false) sends a normal DISCONNECT (the broker drops the will)', async () => {
    const t = setup();
    t.broker.connack();
    await settled();
    t.client.end(false);
    await waitFor(() => t.sentOf('disconnect').length === 1);
    assert.equal(t.sentOf('disconnect')[0]?.reasonCode, 0);
    assert.equal(t.client.state, 'closing');
  });
});
