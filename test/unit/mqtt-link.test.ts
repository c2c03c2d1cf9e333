import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { ConnectionStatus } from '../../src/agent/connection-status.js';
import type { LinkEvents } from '../../src/agent/link.js';
import { MAX_PACKET_BYTES, MqttLink, type MqttClientFactory } from '../../src/agent/mqtt-link.js';
import type { MqttClient, MqttClientOptions } from '../../src/agent/mqtt/mqtt-client.js';
import { MqttError, MqttErrorCode } from '../../src/agent/mqtt/reason-codes.js';
import type { OutboxSink } from '../../src/agent/outbox.js';
import { MAX_FRAME_BYTES } from '../../src/protocol/message.js';
import { authRejectedDelay } from '../../src/time/backoff.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { captureLogger } from '../helpers/log-capture.js';

/** Just enough of the agent's MqttClient for the state machine: tests play the broker with events. */
interface Published {
  topic: string;
  payload: string;
  opts: { qos?: number; retain?: boolean };
  /** Runs the PUBACK callback (reason code → error as the client makes it). */
  ack(reasonCode?: number): void;
}

class FakeMqttClient extends EventEmitter {
  readonly options: MqttClientOptions;
  readonly published: Published[] = [];
  readonly subscribed: Array<{ topic: string; qos: number }> = [];
  ended: boolean | null = null;
  bufferedAmount = 0;
  destroyed = false;

  constructor(options: MqttClientOptions) {
    super();
    this.options = options;
  }

  publish(
    topic: string,
    payload: string,
    opts: { qos?: number; retain?: boolean },
    cb: (err?: Error) => void,
  ): this {
    this.published.push({
      topic,
      payload,
      opts,
      ack: (reasonCode = 0) =>
        cb(
          reasonCode >= 0x80
            ? new MqttError(MqttErrorCode.refused, 'refused', { reasonCode })
            : undefined,
        ),
    });
    return this;
  }

  subscribe(topic: string, opts: { qos: number }, cb: (err: Error | null) => void): this {
    this.subscribed.push({ topic, qos: opts.qos });
    cb(null);
    return this;
  }

  end(force: boolean): this {
    this.ended = force;
    if (force) this.destroy();
    return this;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }

  connack(receiveMaximum?: number): void {
    this.emit('connect', {
      cmd: 'connack',
      reasonCode: 0,
      ...(receiveMaximum ? { properties: { receiveMaximum } } : {}),
    });
  }

  /** A message on a topic, as the broker delivers it. */
  deliver(topic: string, payload: Buffer | string): void {
    this.emit('message', topic, Buffer.from(payload), {});
  }

  frames(topic: string): Array<Record<string, unknown>> {
    return this.published
      .filter((p) => p.topic === topic)
      .map((p) => JSON.parse(p.payload) as Record<string, unknown>);
  }
}

const UP = 'iottly/v1/devices/dev1/up';
const DOWN = 'iottly/v1/devices/dev1/down';
const PRESENCE = 'iottly/v1/devices/dev1/presence';

function setup(random = () => 0.5, { later = false } = {}) {
  const clock = new FakeClock();
  const { logger, lines } = captureLogger();
  const clients: FakeMqttClient[] = [];
  const createMqttClient: MqttClientFactory = (_url, options) => {
    const client = new FakeMqttClient(options);
    clients.push(client);
    // `later`: as the real factory does, which loads MQTT.js first.
    return later
      ? Promise.resolve(client as unknown as MqttClient)
      : (client as unknown as MqttClient);
  };
  const link = new MqttLink({
    url: 'mqtt://broker:1883',
    deviceId: 'dev1',
    token: 'tok',
    tls: {},
    heartbeat: { intervalMs: 2_500 },
    sessionExpiryS: 3_600,
    backoff: { initialDelayMs: 1_000, maxDelayMs: 30_000 },
    dialTimeoutMs: 15_000,
    closeTimeoutMs: 2_000,
    clock,
    random,
    createMqttClient,
    logger,
  });
  const statuses: ConnectionStatus[] = [];
  const sinks: OutboxSink[] = [];
  const frames: Array<string | null> = [];
  const changes: string[] = [];
  let helloSeq = 0;
  const events: LinkEvents = {
    hello: () => ({ device_id: 'dev1', seq: helloSeq }),
    onFrame: (text) => frames.push(text),
    onBytes: () => {},
    onStatus: (status) => statuses.push(status),
    onOnline: (sink) => {
      sinks.push(sink);
      changes.push('online');
    },
    onOffline: () => changes.push('offline'),
  };
  link.start(events);
  const last = () => clients[clients.length - 1] as FakeMqttClient;
  return {
    clock,
    lines,
    clients,
    link,
    statuses,
    sinks,
    frames,
    changes,
    last,
    setHelloSeq: (seq: number) => (helloSeq = seq),
  };
}

/** Read through a call: TypeScript narrows a getter after an assertion and never un-narrows it. */
const statusKind = (link: MqttLink): string => link.status.kind;

describe('MqttLink', () => {
  it('connects as the device with a persistent session, a bounded packet size, a keep-alive and a will', () => {
    const t = setup();
    const { options } = t.last();
    assert.equal(options.clientId, 'dev1');
    assert.equal(options.username, 'dev1');
    assert.equal(options.password, 'tok');
    assert.equal(options.clean, false);
    assert.equal(options.keepalive, 3, '2500 ms rounded up to seconds');
    assert.deepEqual(options.properties, {
      sessionExpiryInterval: 3_600,
      maximumPacketSize: MAX_PACKET_BYTES,
    });
    assert.equal(options.will?.topic, PRESENCE);
    assert.equal(options.will?.retain, true);
    assert.equal(options.will?.qos, 1);
    const will = JSON.parse(String(options.will?.payload)) as Record<string, unknown>;
    assert.equal(will.online, false);
    assert.deepEqual(will.hello, { device_id: 'dev1', seq: 0, protocol: 1 });
  });

  it('on CONNACK subscribes to down, publishes its presence retained and says hello on up', () => {
    const t = setup();
    t.setHelloSeq(7);
    t.last().connack();
    assert.deepEqual(t.last().subscribed, [{ topic: DOWN, qos: 1 }]);
    const [presence, hello] = t.last().published;
    assert.equal(presence?.topic, PRESENCE);
    assert.equal(presence?.opts.qos, 1);
    assert.equal(presence?.opts.retain, true);
    const announced = JSON.parse(presence?.payload ?? '') as Record<string, unknown>;
    assert.equal(announced.online, true);
    assert.equal((announced.hello as { seq: number }).seq, 7, 'the hello of this connect');
    assert.equal(hello?.topic, UP);
    assert.equal(hello?.opts.qos, 1);
    assert.deepEqual(JSON.parse(hello?.payload ?? ''), {
      type: 'hello',
      payload: { device_id: 'dev1', seq: 7, protocol: 1 },
    });
    assert.equal(t.link.status.kind, 'handshaking');
  });

  it('without a welcome backs off and says hello again on the same broker connection', () => {
    const t = setup(() => 0.999999);
    t.last().connack();
    t.clock.advance(15_000);
    assert.deepEqual(t.link.status, {
      kind: 'backoff',
      attempt: 2,
      delayMs: 1_000,
      reason: 'dial_timeout',
    });
    t.clock.advance(1_000);
    assert.equal(t.clients.length, 1, 'no new broker connection');
    assert.equal(t.last().frames(UP).length, 2);
    assert.equal(t.link.status.kind, 'handshaking');
    t.clock.advance(15_000);
    const status: ConnectionStatus = t.link.status;
    assert.equal((status as { delayMs: number }).delayMs, 2_000, 'the back-off grows');
    t.link.markWelcomed(); // a late welcome is as good
    assert.equal(statusKind(t.link), 'online');
    t.clock.advance(60_000);
    assert.equal(t.last().frames(UP).length, 2, 'no hello after the welcome');
  });

  it('publishes what the outbox sends on up with QoS 1: written at PUBACK, buffered = the stream', () => {
    const t = setup();
    t.last().connack();
    t.link.markWelcomed();
    const sink = t.sinks[0] as OutboxSink;
    let written = 0;
    sink.send('{"type":"telemetry","seq":1}', () => written++);
    const sent = t.last().published.at(-1) as Published;
    assert.equal(sent.topic, UP);
    assert.equal(sent.opts.qos, 1);
    assert.equal(sent.opts.retain, false);
    assert.equal(written, 0, 'not before the broker has it');
    sent.ack();
    assert.equal(written, 1);
    t.last().bufferedAmount = 1234;
    assert.equal(sink.bufferedAmount(), 1234);
  });

  it("keeps at most the broker's Receive Maximum in flight; the rest wait in order and count as buffered", () => {
    const t = setup();
    t.last().connack(3);
    t.link.markWelcomed();
    for (const early of t.last().published) early.ack(); // presence and hello: 3 places free
    const sink = t.sinks[0] as OutboxSink;
    const written: number[] = [];
    for (const seq of [1, 2, 3, 4]) sink.send(`{"seq":${seq}}`, () => written.push(seq));
    const onWire = () =>
      t
        .last()
        .frames(UP)
        .flatMap((f) => (typeof f.seq === 'number' ? [f.seq] : []));
    assert.deepEqual(onWire(), [1, 2, 3]);
    assert.equal(sink.bufferedAmount(), '{"seq":4}'.length);
    t.last()
      .published.find((p) => p.payload === '{"seq":1}')
      ?.ack();
    assert.deepEqual(onWire(), [1, 2, 3, 4]);
    assert.deepEqual(written, [1]);
    assert.equal(sink.bufferedAmount(), 0);
    // Waiting when the link is rewound: never sent; the new sink resends from last_seq.
    sink.send('{"seq":5}', () => written.push(5));
    t.link.markWelcomed();
    t.last()
      .published.find((p) => p.payload === '{"seq":2}')
      ?.ack();
    assert.deepEqual(onWire(), [1, 2, 3, 4]);
  });

  it('a second welcome rewinds: offline, then online with a new sink; the old one sends nothing', () => {
    const t = setup();
    t.last().connack();
    t.link.markWelcomed();
    t.link.markWelcomed();
    assert.deepEqual(t.changes, ['online', 'offline', 'online']);
    assert.equal(t.link.status.kind, 'online');
    assert.ok(t.lines.some((l) => l.code === 'link_rewound'));
    const before = t.last().published.length;
    t.sinks[0]?.send('{"old":true}', () => {});
    assert.equal(t.last().published.length, before);
    t.sinks[1]?.send('{"new":true}', () => {});
    assert.equal(t.last().published.length, before + 1);
  });

  it('a broker refusing a publish ends the link; it redials after the back-off', () => {
    const t = setup();
    t.last().connack();
    t.link.markWelcomed();
    t.sinks[0]?.send('{}', () => {});
    (t.last().published.at(-1) as Published).ack(0x87);
    assert.deepEqual(t.changes, ['online', 'offline']);
    assert.equal(t.link.status.kind, 'backoff');
    assert.equal((t.link.status as { reason: string }).reason, 'broker_refused');
    t.clock.advance(1_000);
    assert.equal(t.clients.length, 2);
  });

  it('logs refused credentials once per streak and waits the long delay', () => {
    const t = setup();
    for (let i = 0; i < 3; i++) {
      t.last().emit(
        'error',
        new MqttError(MqttErrorCode.refused, 'connection refused: 0x86 bad user name or password', {
          reasonCode: 0x86,
        }),
      );
      t.last().end(true);
      assert.equal(
        (t.link.status as { delayMs: number }).delayMs,
        authRejectedDelay({ initialDelayMs: 1_000, maxDelayMs: 30_000 }, () => 0.5),
      );
      t.clock.advance(30_000);
    }
    assert.equal(t.lines.filter((l) => l.code === 'auth_rejected').length, 1);
    assert.equal(t.clients.length, 4, 'one dial at a time, each after its delay');
  });

  it('refuses a payload over the frame bound or not UTF-8, and reads only its own down topic', () => {
    const t = setup();
    t.last().connack();
    t.last().deliver(DOWN, Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20));
    t.last().deliver(DOWN, Buffer.from([0xff, 0xfe]));
    t.last().deliver('iottly/v1/devices/dev2/down', '{"type":"welcome"}');
    assert.deepEqual(t.frames, []);
    assert.equal(t.lines.filter((l) => l.code === 'frame_refused').length, 2);
    t.last().deliver(DOWN, '{"type":"ack","payload":{"seq":1}}');
    assert.deepEqual(t.frames, ['{"type":"ack","payload":{"seq":1}}']);
    assert.equal(t.link.status.kind, 'handshaking', 'the link stays');
  });

  it('takes a client made later (MQTT.js loaded at the first dial), and ends one that comes after stop()', async () => {
    const t = setup(() => 0.5, { later: true });
    await Promise.resolve();
    t.last().connack();
    assert.equal(t.link.status.kind, 'handshaking');
    const late = setup(() => 0.5, { later: true });
    await late.link.stop();
    assert.equal(late.link.status.kind, 'stopped');
    await Promise.resolve();
    assert.equal(late.last().ended, true, 'the client made after stop() is ended at once');
  });

  it('stops with presence offline then DISCONNECT, bounded by the close timeout', async () => {
    const t = setup();
    t.last().connack();
    t.link.markWelcomed();
    const stopped = t.link.stop();
    const goodbye = t.last().published.at(-1) as Published;
    assert.equal(goodbye.topic, PRESENCE);
    assert.equal(goodbye.opts.retain, true);
    assert.equal((JSON.parse(goodbye.payload) as { online: boolean }).online, false);
    assert.equal(t.last().ended, null, 'waits for the PUBACK');
    goodbye.ack();
    assert.equal(
      t.last().ended,
      false,
      'a graceful DISCONNECT: the broker keeps the will to itself',
    );
    t.clock.advance(2_000); // the broker never closes
    await stopped;
    assert.equal(t.link.status.kind, 'stopped');
    assert.equal(t.last().destroyed, true);
    assert.deepEqual(t.changes, ['online', 'offline']);
  });
});
