import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import type { HubOptions } from '../../src/hub/hub.js';
import { ownerOf } from '../../src/hub/fleet/rendezvous.js';
import { startReceiver } from '../helpers/http-receiver.js';
import { captureLogger, WARN } from '../helpers/log-capture.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { connectScriptedDevice, type ScriptedDevice } from '../helpers/mqtt-device.js';
import type { Owner } from '../helpers/owner.js';
import {
  API_KEY,
  FRAME_TS,
  connectClient,
  expectRefused,
  startHub,
  telemetryFrame,
  waitFor,
  type Frame,
  type Peer,
  type TestHub,
  HELLO as HELLO_FIELDS,
} from '../helpers/ws.js';

/**
 * Hubs serving one fleet from a real mosquitto (`hub --broker`): devices are played by scripted
 * MQTT clients speaking docs/protocol.md's topics, stream clients are real WebSockets on each
 * hub. Every wait is for an event, with a generous deadline (two hubs and a broker share a
 * loaded machine).
 */
const LONG = 15_000;
const DEVICE = 'fleet-dev-1';
const HUB_A = 'hub-aaaaaaaaaaaa';
const HUB_B = 'hub-bbbbbbbbbbbb';

async function fleetHub(
  t: Owner,
  broker: Mosquitto,
  hubId: string,
  overrides: Partial<HubOptions> = {},
): Promise<TestHub> {
  return startHub(t, {
    deviceTokens: new Map(),
    fleet: {
      url: broker.url,
      hubId,
      connection: { backoff: { initialDelayMs: 50, maxDelayMs: 500 } },
    },
    ...overrides,
  });
}

/** Both hubs see both hubs present: each has read the fleet's retained messages. */
async function fleetOf(...hubs: TestHub[]): Promise<void> {
  const ids = hubs.map((h) => h.hub.fleet?.hubId ?? '').sort();
  await waitFor(
    () => hubs.every((h) => JSON.stringify(h.hub.fleet?.hubs()) === JSON.stringify(ids)),
    LONG,
  );
}

/**
 * A broker, hubs with these ids (each with `overrides`) that have learnt the fleet, and a device
 * that came online and was welcomed.
 */
async function fleetWithDevice<const Ids extends readonly string[]>(
  t: Owner,
  hubIds: Ids,
  overrides: Partial<HubOptions> = {},
): Promise<{ broker: Mosquitto; hubs: { [K in keyof Ids]: TestHub }; device: ScriptedDevice }> {
  const broker = await startMosquitto(t);
  const hubs: TestHub[] = [];
  for (const hubId of hubIds) hubs.push(await fleetHub(t, broker, hubId, overrides));
  await fleetOf(...hubs);
  const device = await connectScriptedDevice(t, broker.url, DEVICE);
  await device.comeOnline();
  await device.nextOfType('welcome', LONG);
  return { broker, hubs: hubs as { [K in keyof Ids]: TestHub }, device };
}

/**
 * The topics under `filter` that hold a retained message now, sorted. A marker published after
 * the subscription comes back after every retained message (one connection keeps order).
 */
async function retainedTopics(brokerUrl: string, filter: string): Promise<string[]> {
  const client = await connectAsync(brokerUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    const marker = `test/marker/${process.pid}`;
    const topics: string[] = [];
    const done = new Promise<void>((resolve) =>
      client.on('message', (topic, payload, packet) => {
        if (topic === marker) resolve();
        else if (packet.retain && payload.length > 0) topics.push(topic);
      }),
    );
    await client.subscribeAsync([filter, marker], { qos: 1 });
    await client.publishAsync(marker, 'x', { qos: 1 });
    await done;
    return topics.sort();
  } finally {
    await client.endAsync();
  }
}

async function subscribe(
  client: Peer,
  requestId: string,
  streams: string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  client.send({
    type: 'subscribe',
    request_id: requestId,
    payload: { device_id: DEVICE, streams, ...extra },
  });
  const reply = await client.inbox.next((f) => f.request_id === requestId, LONG);
  assert.equal(reply.type, 'subscribed', JSON.stringify(reply));
  return String(reply.payload.subscription_id);
}

/** The telemetry seqs a client receives, until it has `count` of them. */
async function telemetrySeqs(client: Peer, count: number): Promise<number[]> {
  const seqs: number[] = [];
  while (seqs.length < count) {
    const frame = await client.inbox.nextOfType('telemetry', LONG);
    seqs.push(frame.seq as number);
  }
  return seqs;
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function sendTelemetry(device: ScriptedDevice, seqs: number[]): Promise<void> {
  for (const seq of seqs) await device.send(telemetryFrame(seq));
}

/** The device's last ack reaches `seq` (acks are cumulative and batched). */
async function ackedUpTo(device: ScriptedDevice, seq: number): Promise<void> {
  await device.next((f) => f.type === 'ack' && (f.payload.seq as number) >= seq, LONG);
}

describe('hubs on an MQTT broker', () => {
  it('lists a device from its retained presence on hubs started after it, and relays its telemetry to clients on both', async (t) => {
    const broker = await startMosquitto(t);
    const device = await connectScriptedDevice(t, broker.url, DEVICE);
    await device.comeOnline(); // no hub yet: nobody answers
    const a = await fleetHub(t, broker, HUB_A);
    const b = await fleetHub(t, broker, HUB_B);
    await fleetOf(a, b);

    for (const hub of [a, b]) {
      await waitFor(() => hub.hub.device(DEVICE)?.connected === true, LONG);
      const res = await fetch(`${hub.url}/v1/devices`, {
        headers: { Authorization: `Bearer ${API_KEY}` },
      });
      const devices = (await res.json()) as Record<string, unknown>[];
      assert.deepEqual(
        devices.map((d) => [d.device_id, d.connected, d.agent_version, d.connected_since]),
        [[DEVICE, true, '0.1.0-test', device.since]],
      );
    }
    // The owner took the device over as it learnt the fleet: a welcome with the cursor (none yet).
    const welcome = await device.nextOfType('welcome', LONG);
    assert.equal(welcome.payload.last_seq, 0);

    const onA = await connectClient(a.wsUrl);
    const onB = await connectClient(b.wsUrl);
    await subscribe(onA, 'sa', ['cpu']);
    await subscribe(onB, 'sb', ['cpu']);
    await sendTelemetry(device, range(1, 5));
    assert.deepEqual(await telemetrySeqs(onA, 5), range(1, 5));
    assert.deepEqual(await telemetrySeqs(onB, 5), range(1, 5));
    for (const client of [onA, onB])
      assert.deepEqual(
        client.inbox.unread.filter((f: Frame) => f.type === 'telemetry'),
        [],
      );
    await ackedUpTo(device, 5);
  });

  it('reads a device it takes over as it learns the fleet even when its welcome is over the send bound: the next hello is answered', async (t) => {
    const broker = await startMosquitto(t);
    const device = await connectScriptedDevice(t, broker.url, DEVICE);
    await device.comeOnline(); // no hub yet: nobody answers
    // A bound of one byte: a welcome held for a device not read yet is always over it (as the
    // thousands of welcomes of a hub taking a fleet over at start are).
    const hub = await fleetHub(t, broker, HUB_A, { peerHighWaterBytes: 1 });
    await fleetOf(hub);
    // The agent's redial on the same connection: its hello again on `up`, no new presence.
    await device.send({
      type: 'hello',
      payload: { device_id: DEVICE, ...HELLO_FIELDS, store_id: 'store-0001' },
    });
    await device.nextOfType('welcome', LONG);
    await sendTelemetry(device, range(1, 3));
    await ackedUpTo(device, 3);
  });

  it('refuses agents on /v1/device: devices reach a fleet hub through the broker', async (t) => {
    const broker = await startMosquitto(t);
    const a = await fleetHub(t, broker, HUB_A);
    const refused = await expectRefused(`${a.wsUrl}/v1/device`, {
      headers: { Authorization: 'Bearer x', 'X-Iottly-Device-Id': DEVICE },
    });
    assert.equal(refused.status, 404);
    assert.match(refused.body, /MQTT broker/);
  });

  it('sends the device the union of what clients on every hub want, and clears it', async (t) => {
    const {
      hubs: [a, b],
      device,
    } = await fleetWithDevice(t, [HUB_A, HUB_B]);
    // Right after the welcome: nothing wanted yet.
    assert.deepEqual((await device.nextOfType('streams', LONG)).payload.streams, []);

    const onA = await connectClient(a.wsUrl);
    const onB = await connectClient(b.wsUrl);
    const nextStreams = async () => (await device.nextOfType('streams', LONG)).payload.streams;
    const memory = await subscribe(onB, 'sb', ['memory'], { interval_ms: 2000 });
    assert.deepEqual(await nextStreams(), [{ name: 'memory', interval_ms: 2000 }]);
    await subscribe(onA, 'sa', ['memory', 'cpu'], { interval_ms: 500 });
    assert.deepEqual(await nextStreams(), [
      { name: 'cpu', interval_ms: 500 },
      { name: 'memory', interval_ms: 500 },
    ]);
    onA.ws.close();
    assert.deepEqual(await nextStreams(), [{ name: 'memory', interval_ms: 2000 }]);
    onB.send({ type: 'unsubscribe', request_id: 'u', payload: { subscription_id: memory } });
    assert.equal((await onB.inbox.next((f) => f.request_id === 'u', LONG)).type, 'unsubscribed');
    assert.deepEqual(await nextStreams(), []);
  });

  it('answers a command from a client on hub A to that client only', async (t) => {
    const {
      hubs: [a, b],
      device,
    } = await fleetWithDevice(t, [HUB_A, HUB_B]);
    await waitFor(() => b.hub.device(DEVICE)?.connected === true, LONG);
    const onA = await connectClient(a.wsUrl);
    const onB = await connectClient(b.wsUrl);

    onA.send({
      type: 'command',
      request_id: 'c1',
      payload: { device_id: DEVICE, command: 'uptime' },
    });
    const command = await device.nextOfType('command', LONG);
    assert.ok(
      command.request_id?.startsWith(`${HUB_A}.`),
      `request_id names hub A: ${command.request_id}`,
    );
    await device.send({
      type: 'command_output',
      request_id: command.request_id,
      channel: 'commands',
      ts: FRAME_TS,
      seq: 1,
      payload: { chunk: 'up 3 days\n', fd: 'stdout' },
    });
    await device.send({
      type: 'command_done',
      request_id: command.request_id,
      channel: 'commands',
      ts: FRAME_TS,
      seq: 2,
      payload: { exit_code: 0 },
    });
    const output = await onA.inbox.nextOfType('command_output', LONG);
    assert.equal(output.request_id, 'c1');
    assert.equal(output.payload.chunk, 'up 3 days\n');
    const done = await onA.inbox.nextOfType('command_done', LONG);
    assert.equal(done.request_id, 'c1');
    assert.equal(done.payload.exit_code, 0);
    await ackedUpTo(device, 2);
    await waitFor(() => a.hub.pendingRequests() === 0, LONG);
    assert.deepEqual(onB.inbox.unread, []);
  });

  it('reads a device only while it owns it, its clients want it, or it sent it a request', async (t) => {
    const broker = await startMosquitto(t);
    const quickSweeps = async (hubId: string) =>
      startHub(t, {
        deviceTokens: new Map(),
        fleet: { url: broker.url, hubId, readSweepMs: 100, readLingerMs: 100 },
      });
    const hubs = [await quickSweeps(HUB_A), await quickSweeps(HUB_B)];
    await fleetOf(...hubs);
    const device = await connectScriptedDevice(t, broker.url, DEVICE);
    await device.comeOnline();
    await device.nextOfType('welcome', LONG);
    const ownerId = ownerOf(DEVICE, [HUB_A, HUB_B]);
    const owner = hubs.find((h) => h.hub.fleet?.hubId === ownerId) as TestHub;
    const other = hubs.find((h) => h !== owner) as TestHub;
    await waitFor(() => other.hub.device(DEVICE)?.connected === true, LONG);
    assert.equal(owner.hub.fleet?.reads(DEVICE), true, 'the owner reads its device');
    assert.equal(other.hub.fleet?.reads(DEVICE), false, 'the other hub does not');

    // A command from the other hub's client: sent once that hub hears the answers.
    const client = await connectClient(other.wsUrl);
    client.send({
      type: 'command',
      request_id: 'c1',
      payload: { device_id: DEVICE, command: 'uptime' },
    });
    const command = await device.nextOfType('command', LONG);
    assert.equal(other.hub.fleet?.reads(DEVICE), true, 'read before the command went out');
    await device.send({
      type: 'command_done',
      request_id: command.request_id,
      channel: 'commands',
      ts: FRAME_TS,
      seq: 1,
      payload: { exit_code: 0 },
    });
    assert.equal((await client.inbox.nextOfType('command_done', LONG)).request_id, 'c1');
    // Nothing open and nothing wanted: the next sweep stops reading it.
    await waitFor(() => other.hub.fleet?.reads(DEVICE) === false, LONG);

    // A subscription: `subscribed` comes once the hub hears the device, so nothing is missed.
    const subscriptionId = await subscribe(client, 's1', ['cpu']);
    assert.equal(other.hub.fleet?.reads(DEVICE), true);
    await sendTelemetry(device, [2]);
    assert.deepEqual(await telemetrySeqs(client, 1), [2]);
    client.send({
      type: 'unsubscribe',
      request_id: 'u1',
      payload: { subscription_id: subscriptionId },
    });
    await waitFor(() => other.hub.fleet?.reads(DEVICE) === false, LONG);
    assert.equal(owner.hub.fleet?.reads(DEVICE), true, 'the owner still reads it');
  });

  it('relays a resend of the same seqs to no client twice', async (t) => {
    const {
      hubs: [a, b],
      device,
    } = await fleetWithDevice(t, [HUB_A, HUB_B]);
    const clients = [await connectClient(a.wsUrl), await connectClient(b.wsUrl)];
    for (const [i, client] of clients.entries()) await subscribe(client, `s${i}`, ['cpu']);
    await sendTelemetry(device, range(1, 4));
    await sendTelemetry(device, range(1, 4)); // a resend after a lost ack
    await sendTelemetry(device, range(5, 6));
    for (const client of clients) {
      assert.deepEqual(await telemetrySeqs(client, 6), range(1, 6));
      assert.deepEqual(
        client.inbox.unread.filter((f: Frame) => f.type === 'telemetry'),
        [],
      );
    }
    await ackedUpTo(device, 6);
  });

  it('logs a frame over 1 MiB and bad JSON on `up`, and keeps serving the device', async (t) => {
    const { logger, lines } = captureLogger('info');
    const {
      hubs: [a],
      device,
    } = await fleetWithDevice(t, [HUB_A], { logger });
    const client = await connectClient(a.wsUrl);
    await subscribe(client, 's', ['cpu']);

    await device.sendRaw(Buffer.alloc((1 << 20) + 1, 0x20));
    await device.sendRaw('{"type": "telemetry", ');
    await waitFor(
      () => lines.filter((l) => l.level === WARN && l.code === 'invalid_json').length >= 2,
      LONG,
    );
    const refusal = await device.nextOfType('error', LONG);
    assert.equal(refusal.payload.code, 'invalid_json');
    await sendTelemetry(device, [1]);
    assert.deepEqual(await telemetrySeqs(client, 1), [1]);
    assert.equal(a.hub.state, 'listening');
  });

  it('hands the device to hub B when its owner stops: a welcome with the cursor, no seq missing or repeated on B', async (t) => {
    const { broker, hubs, device } = await fleetWithDevice(t, [HUB_A, HUB_B]);
    // Whichever of the two owns the device is stopped; the other serves on.
    const ownerId = ownerOf(DEVICE, [HUB_A, HUB_B]);
    const owner = hubs.find((h) => h.hub.fleet?.hubId === ownerId) as TestHub;
    const survivor = hubs.find((h) => h !== owner) as TestHub;
    const client = await connectClient(survivor.wsUrl);
    await subscribe(client, 's', ['cpu']);
    await subscribe(await connectClient(owner.wsUrl), 'm', ['memory']);
    await device.next((f) => f.type === 'streams' && (f.payload.streams as unknown[]).length === 2);
    await sendTelemetry(device, range(1, 5));
    assert.deepEqual(await telemetrySeqs(client, 5), range(1, 5));
    await ackedUpTo(device, 5);

    while (device.unread.some((f) => f.type === 'streams')) await device.nextOfType('streams');

    await owner.stop();
    const welcome = await device.nextOfType('welcome', LONG);
    assert.equal(welcome.payload.last_seq, 5, 'the cursor the stopped owner published');
    assert.ok(survivor.hub.fleet?.owns(DEVICE));
    assert.deepEqual((await device.nextOfType('streams', LONG)).payload.streams, [{ name: 'cpu' }]);
    // The stopped hub cleared its presence and its wants: only the survivor's are retained.
    assert.deepEqual(await retainedTopics(broker.url, 'iottly/v1/hubs/#'), [
      `iottly/v1/hubs/${survivor.hub.fleet?.hubId}`,
      `iottly/v1/hubs/${survivor.hub.fleet?.hubId}/wants/${DEVICE}`,
    ]);
    // The agent rewinds to the cursor: what follows it again, then new frames.
    await sendTelemetry(device, range(4, 9));
    assert.deepEqual(await telemetrySeqs(client, 4), range(6, 9));
    await ackedUpTo(device, 9);
    assert.deepEqual(
      client.inbox.unread.filter((f: Frame) => f.type === 'telemetry'),
      [],
    );
  });

  it('posts each device message to a webhook once across two hubs', async (t) => {
    const receiver = await startReceiver(t);
    const webhooks = [{ description: 'all', url: receiver.url, type: 'iottly' as const }];
    const webhookPolicy = { backoff: { initialDelayMs: 20, maxDelayMs: 40 }, timeoutMs: 5_000 };
    const {
      hubs: [a, b],
      device,
    } = await fleetWithDevice(t, [HUB_A, HUB_B], { webhooks, webhookPolicy });
    // Clients on both hubs: once each has seq 6, both hubs have handled every message.
    const clients = [await connectClient(a.wsUrl), await connectClient(b.wsUrl)];
    for (const [i, client] of clients.entries()) await subscribe(client, `s${i}`, ['cpu']);
    await sendTelemetry(device, range(1, 5));
    await sendTelemetry(device, range(3, 6)); // a resend, then one more
    for (const client of clients) assert.deepEqual(await telemetrySeqs(client, 6), range(1, 6));
    await receiver.waitFor(6, LONG);
    const stats = () =>
      [a, b].map((hub) => hub.hub.webhooks.stats(hub.hub.webhooks.list()[0]?.id ?? ''));
    const accepted = () => stats().reduce((sum, s) => sum + (s?.accepted ?? 0), 0);
    await waitFor(() => accepted() >= 6 && stats().every((s) => s?.pending === 0), LONG);
    assert.equal(accepted(), 6, 'six posts across the two hubs');
    assert.equal(receiver.requests.length, 6);
    const values = receiver.requests.map(
      (r) => (r.body as { msg: { payload: { value: number } } }).msg.payload.value,
    );
    assert.deepEqual(
      [...values].sort((x, y) => x - y),
      range(1, 6),
    );
  });

  it('keeps one webhook set on every hub: added on A, taken by a hub that starts later, deleted on B', async (t) => {
    const receiver = await startReceiver(t);
    const {
      broker,
      hubs: [a, b],
      device,
    } = await fleetWithDevice(t, [HUB_A, HUB_B], {
      webhookPolicy: { backoff: { initialDelayMs: 20, maxDelayMs: 40 }, timeoutMs: 5_000 },
    });
    const api = (hub: TestHub, path: string, init: RequestInit = {}) =>
      fetch(`${hub.url}${path}`, {
        ...init,
        headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      });
    const added = await api(a, '/v1/webhooks', {
      method: 'POST',
      body: JSON.stringify({
        description: 'all',
        url: receiver.url,
        type: 'iottly',
        headers: { 'X-Api-Token': 'secret-1' },
      }),
    });
    assert.equal(added.status, 201);
    const { id } = (await added.json()) as { id: string };
    const ids = (hub: TestHub) => hub.hub.webhooks.list().map((w) => w.id);
    await waitFor(() => ids(b).includes(id), LONG);
    const late = await fleetHub(t, broker, 'hub-cccccccccccc');
    await waitFor(() => ids(late).includes(id), LONG);
    assert.equal(late.hub.webhooks.list()[0]?.headers?.['X-Api-Token'], 'secret-1');

    await sendTelemetry(device, range(1, 3));
    await ackedUpTo(device, 3);
    const posted = await receiver.waitFor(3, LONG);
    assert.deepEqual(
      posted.map((r) => r.headers['x-api-token']),
      ['secret-1', 'secret-1', 'secret-1'],
    );

    assert.equal((await api(b, `/v1/webhooks/${id}`, { method: 'DELETE' })).status, 204);
    await waitFor(() => ids(a).length === 0 && ids(late).length === 0, LONG);
  });

  it('ends a command whose device stays offline past the grace with device_offline, and keeps one answered after a hello that does not list it', async (t) => {
    const {
      hubs: [a],
      device,
    } = await fleetWithDevice(t, [HUB_A], { requestGraceMs: 300 });
    const client = await connectClient(a.wsUrl);

    client.send({
      type: 'command',
      request_id: 'c1',
      payload: { device_id: DEVICE, command: 'x' },
    });
    const first = await device.nextOfType('command', LONG);
    // Over a broker the command may still be queued for the agent as it says hello again.
    await device.send({
      type: 'hello',
      payload: { device_id: DEVICE, ...HELLO_FIELDS, open_requests: [], seq: 3 },
    });
    await device.nextOfType('welcome', LONG);
    await device.send({
      type: 'command_done',
      request_id: first.request_id,
      channel: 'commands',
      ts: FRAME_TS,
      seq: 1,
      payload: { exit_code: 0 },
    });
    assert.equal((await client.inbox.nextOfType('command_done', LONG)).payload.exit_code, 0);

    client.send({
      type: 'command',
      request_id: 'c2',
      payload: { device_id: DEVICE, command: 'y' },
    });
    await device.nextOfType('command', LONG);
    await device.goOffline();
    const error = await client.inbox.nextOfType('error', LONG);
    assert.deepEqual([error.request_id, error.payload.code], ['c2', 'device_offline']);
    const done = await client.inbox.nextOfType('command_done', LONG);
    assert.equal(done.request_id, 'c2');
    await waitFor(() => a.hub.device(DEVICE)?.connected === false, LONG);
  });
});
