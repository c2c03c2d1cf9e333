import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import {
  MqttClient,
  type Connack,
  type MqttClientOptions,
} from '../../src/agent/mqtt/mqtt-client.js';
import { connectMqttSocket } from '../../src/agent/mqtt/mqtt-socket.js';
import { MqttError, MqttErrorCode } from '../../src/agent/mqtt/reason-codes.js';
import { PublishWindow } from '../../src/agent/publish-window.js';
import { systemClock } from '../../src/time/clock.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import type { Owner } from '../helpers/owner.js';
import { waitFor } from '../helpers/ws.js';

const EVENTUALLY_MS = 15_000;

/** The agent's client on a real broker, ended with the test. */
async function connected(
  t: Owner,
  url: string,
  options: Partial<MqttClientOptions> = {},
): Promise<{ client: MqttClient; connack: Connack }> {
  const client = new MqttClient(
    url,
    {
      clientId: 'dev1',
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      properties: { sessionExpiryInterval: 60, maximumPacketSize: 1 << 20 },
      clock: systemClock,
      ...options,
    },
    connectMqttSocket,
  );
  t.after(() => client.destroy());
  client.on('error', () => {}); // asserted where a test expects one
  client.connect();
  const [connack] = (await once(client, 'connect')) as [Connack];
  return { client, connack };
}

function publish(client: MqttClient, topic: string, payload: string): Promise<Error | undefined> {
  return new Promise((resolve) =>
    client.publish(topic, payload, { qos: 1, retain: false }, resolve),
  );
}

function subscribe(client: MqttClient, topic: string): Promise<Error | null> {
  return new Promise((resolve) => client.subscribe(topic, { qos: 1 }, resolve));
}

describe('the agent’s MQTT client on mosquitto', () => {
  it('publishes its will when the connection dies, and not after a normal DISCONNECT', async (t) => {
    const broker = await startMosquitto(t);
    const observer = await connectAsync(broker.url, { protocolVersion: 5, clientId: 'observer' });
    t.after(() => observer.end(true));
    const wills: string[] = [];
    observer.on('message', (_topic, payload) => wills.push(payload.toString()));
    await observer.subscribeAsync('wills/#', { qos: 1 });
    const will = (clientId: string) => ({
      will: {
        topic: `wills/${clientId}`,
        payload: Buffer.from(`${clientId} gone`),
        qos: 1 as const,
        retain: false,
        properties: { payloadFormatIndicator: true },
      },
    });

    const graceful = await connected(t, broker.url, { clientId: 'graceful', ...will('graceful') });
    graceful.client.end(false);
    await once(graceful.client, 'close');
    const killed = await connected(t, broker.url, { clientId: 'killed', ...will('killed') });
    killed.client.destroy();
    await waitFor(() => wills.length > 0, EVENTUALLY_MS);
    assert.deepEqual(wills, ['killed gone']);
  });

  it('resumes its session: session present on a second connect with clean start off', async (t) => {
    const broker = await startMosquitto(t);
    const first = await connected(t, broker.url, { clean: false });
    assert.equal(first.connack.sessionPresent, false);
    assert.equal(await subscribe(first.client, 'dev1/down'), null);
    first.client.end(false);
    await once(first.client, 'close');
    const second = await connected(t, broker.url, { clean: false });
    assert.equal(second.connack.sessionPresent, true);
  });

  it('QoS 1 round trip: PUBACK for its publish, the message back with its properties, PUBACK sent', async (t) => {
    const broker = await startMosquitto(t);
    const { client } = await connected(t, broker.url);
    const received: Array<{ topic: string; payload: string; qos: number; contentType?: string }> =
      [];
    client.on('message', (topic, payload, packet) =>
      received.push({
        topic,
        payload: payload.toString(),
        qos: packet.qos,
        ...(packet.properties.contentType ? { contentType: packet.properties.contentType } : {}),
      }),
    );
    assert.equal(await subscribe(client, 'loop/#'), null);
    const acked = await new Promise<Error | undefined>((resolve) =>
      client.publish(
        'loop/1',
        '{"ü":1}',
        { qos: 1, retain: false, properties: { contentType: 'application/json' } },
        resolve,
      ),
    );
    assert.equal(acked, undefined);
    await waitFor(() => received.length === 1, EVENTUALLY_MS);
    assert.deepEqual(received, [
      { topic: 'loop/1', payload: '{"ü":1}', qos: 1, contentType: 'application/json' },
    ]);
    // Packet identifiers go on: a second QoS 1 publish is acknowledged and comes back too.
    assert.equal(await publish(client, 'loop/2', 'two'), undefined);
    await waitFor(() => received.length === 2, EVENTUALLY_MS);
  });

  it('reads the broker’s Receive Maximum; through PublishWindow no more than that is ever in flight', async (t) => {
    const broker = await startMosquitto(t, { extraConfig: ['max_inflight_messages 2'] });
    const { client, connack } = await connected(t, broker.url);
    assert.equal(connack.properties.receiveMaximum, 2);
    let inFlight = 0;
    let most = 0;
    const window = new PublishWindow((message, acked) => {
      inFlight++;
      most = Math.max(most, inFlight);
      client.publish(message.topic, message.payload, { qos: 1, retain: false }, (err) => {
        inFlight--;
        acked(err);
      });
    }, connack.properties.receiveMaximum ?? 65_535);
    const results: Array<Error | undefined> = [];
    for (let n = 0; n < 20; n++)
      window.submit({
        topic: `rm/${n}`,
        payload: `${n}`,
        retain: false,
        acked: (e) => results.push(e),
      });
    await waitFor(() => results.length === 20, EVENTUALLY_MS);
    assert.deepEqual(
      results,
      Array.from({ length: 20 }, () => undefined),
    );
    assert.equal(most, 2);
  });

  it('keep-alive: a broker that stops answering ends the connection with MQTT_KEEPALIVE_TIMEOUT', async (t) => {
    const broker = await startMosquitto(t);
    const proxy = await FaultProxy.start(t, broker.port);
    const { client } = await connected(t, `mqtt://127.0.0.1:${proxy.port}`, { keepalive: 1 });
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    const closed = new Promise((resolve) => client.on('close', () => resolve(undefined)));
    proxy.setMode('blackhole');
    await closed; // not once(): it would reject at the 'error' that comes first
    assert.equal((errors[0] as MqttError).code, MqttErrorCode.keepAliveTimeout);
  });
});
