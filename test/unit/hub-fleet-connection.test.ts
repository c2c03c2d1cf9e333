import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import { pino } from 'pino';
import {
  FleetConnection,
  HUB_SUBSCRIPTIONS,
  HUB_SESSION_EXPIRY_S,
  type CreateMqttClient,
} from '../../src/hub/fleet/fleet-connection.js';
import { hubTopic } from '../../src/protocol/mqtt-topics.js';
import { backoffDelay, authRejectedDelay } from '../../src/time/backoff.js';
import { FakeClock } from '../helpers/fake-clock.js';

/**
 * The hub's MQTT connection with the client factory injected: what it asks the broker for at
 * CONNECT, one dial at a time with the project's back-off, the long delay for refused
 * credentials, and a stop that ends the client. A fake client stands in for MQTT.js (the
 * integration tests run the real one against mosquitto).
 */
const BACKOFF = { initialDelayMs: 100, maxDelayMs: 1_000 };
const random = () => 0.5;

class FakeMqttClient extends EventEmitter {
  readonly options: IClientOptions;
  readonly published: { topic: string; payload: string; retain: boolean }[] = [];
  subscribed: string[] = [];
  ended = false;
  constructor(options: IClientOptions) {
    super();
    this.options = options;
  }
  subscribeAsync(topics: string[]) {
    this.subscribed.push(...topics);
    return Promise.resolve(topics.map((topic) => ({ topic, qos: 1 })));
  }
  publish(topic: string, payload: string, opts: { retain: boolean }) {
    this.published.push({ topic, payload, retain: opts.retain });
  }
  endAsync() {
    this.ended = true;
    return Promise.resolve();
  }
  end() {
    this.ended = true;
  }
}

function rig() {
  const clock = new FakeClock();
  const clients: FakeMqttClient[] = [];
  const events: string[] = [];
  const createClient: CreateMqttClient = (_url, options) => {
    const client = new FakeMqttClient(options);
    clients.push(client);
    return client as unknown as MqttClient;
  };
  const connection = new FleetConnection({
    url: 'mqtt://broker.test:1883',
    username: 'hub1',
    password: 'pw',
    hubId: 'hub-test00000001',
    clock,
    random,
    logger: pino({ level: 'silent' }),
    createClient,
    backoff: BACKOFF,
    onOnline: () => events.push('online'),
    onMessage: (topic) => events.push(`message ${topic}`),
    onOffline: () => events.push('offline'),
  });
  return { clock, clients, events, connection };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('FleetConnection', () => {
  it('connects as MQTT 5 with a session the broker keeps a minute, its will clearing its presence, then subscribes and says it is there', async () => {
    const { clients, events, connection } = rig();
    connection.start();
    const client = clients[0] as FakeMqttClient;
    assert.equal(client.options.protocolVersion, 5);
    assert.equal(client.options.clean, false, 'what the hub misses while away is kept');
    assert.equal(client.options.properties?.sessionExpiryInterval, HUB_SESSION_EXPIRY_S);
    assert.equal(client.options.clientId, 'hub-test00000001');
    assert.equal(client.options.reconnectPeriod, 0, "the project's back-off decides");
    assert.deepEqual([client.options.username, client.options.password], ['hub1', 'pw']);
    assert.equal(client.options.will?.topic, hubTopic('hub-test00000001'));
    assert.equal(client.options.will?.retain, true);
    assert.equal(client.options.will?.payload.length, 0);
    client.emit('connect');
    await settle();
    assert.deepEqual(events, ['online']);
    assert.equal(connection.status.kind, 'online');
    const presence = client.published[0];
    assert.equal(presence?.topic, hubTopic('hub-test00000001'));
    assert.equal(presence?.retain, true);
    assert.equal(JSON.parse(presence?.payload ?? '{}').online, true);
    assert.deepEqual(client.subscribed, [
      'iottly/v1/hubs/#',
      'iottly/v1/fleet/webhooks',
      'iottly/v1/devices/+/cursor',
      'iottly/v1/devices/+/presence',
    ]);
    assert.deepEqual(client.subscribed, HUB_SUBSCRIPTIONS);
    client.emit('message', 'iottly/v1/devices/d1/up', Buffer.from('{}'));
    assert.deepEqual(events.at(-1), 'message iottly/v1/devices/d1/up');
  });

  it('redials one client at a time after the back-off, longer and longer, and after the long delay when refused', async () => {
    const { clock, clients, events, connection } = rig();
    connection.start();
    for (let attempt = 0; attempt < 3; attempt++) {
      (clients[attempt] as FakeMqttClient).emit('close');
      const delay = backoffDelay(attempt, BACKOFF, random);
      assert.deepEqual(connection.status, { kind: 'backoff', attempt, delayMs: delay });
      clock.advance(delay - 1);
      assert.equal(clients.length, attempt + 1, 'not before the delay');
      clock.advance(1);
      assert.equal(clients.length, attempt + 2);
    }
    const refused = clients[3] as FakeMqttClient;
    refused.emit(
      'error',
      Object.assign(new Error('Connection refused: Bad User Name or Password'), { code: 0x86 }),
    );
    refused.emit('close');
    assert.deepEqual(connection.status, {
      kind: 'backoff',
      attempt: 3,
      delayMs: authRejectedDelay(BACKOFF, random),
    });
    assert.deepEqual(events, [], 'never online, so never offline');
  });

  it('tells a lost connection once, and stops: ends the client, dials no more', async () => {
    const { clock, clients, events, connection } = rig();
    connection.start();
    const first = clients[0] as FakeMqttClient;
    first.emit('connect');
    await settle();
    first.emit('close');
    first.emit('close');
    assert.deepEqual(events, ['online', 'offline']);
    clock.advance(BACKOFF.maxDelayMs);
    const second = clients[1] as FakeMqttClient;
    second.emit('connect');
    await settle();
    await connection.stop();
    assert.equal(second.ended, true);
    assert.equal(connection.publish('x', 'y'), false);
    clock.advance(10 * BACKOFF.maxDelayMs);
    assert.equal(clients.length, 2);
    assert.deepEqual(connection.status, { kind: 'stopped' });
  });
});
