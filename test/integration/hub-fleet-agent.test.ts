import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import { ownerOf } from '../../src/hub/fleet/rendezvous.js';
import { deviceTopic } from '../../src/protocol/mqtt-topics.js';
import { statusIs } from '../helpers/agent-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { DEVICE, agentOn } from '../helpers/mqtt-agent-rig.js';
import type { Owner } from '../helpers/owner.js';
import {
  connectClient,
  startHub,
  waitFor,
  type Frame,
  type Peer,
  type TestHub,
} from '../helpers/ws.js';

/**
 * The real agent spawned as a process over `mqtt://`: two hubs on one mosquitto, a stream client
 * on one hub receives the device's telemetry and runs a command; the other hub (the device's
 * owner) stops; telemetry and commands go on through the survivor with no seq missing or
 * repeated. (The owner killed, with broker-config's credentials: fleet-on-broker.test.ts.) What the agent really published is read from its
 * `up` topic by an observer, so "missing" is measured against the agent's own output.
 */
const LONG = 20_000;
const HUB_IDS = ['hub-aaaaaaaaaaaa', 'hub-bbbbbbbbbbbb'];

async function fleetHub(t: Owner, brokerUrl: string, hubId: string): Promise<TestHub> {
  return startHub(t, {
    deviceTokens: new Map(),
    fleet: {
      url: brokerUrl,
      hubId,
      connection: { backoff: { initialDelayMs: 50, maxDelayMs: 500 } },
    },
  });
}

/** Every cpu telemetry seq the device publishes on `up` (resends included), as they come. */
async function observeUp(t: Owner, brokerUrl: string): Promise<number[]> {
  const seqs: number[] = [];
  const observer = await connectAsync(brokerUrl, { protocolVersion: 5, reconnectPeriod: 0 });
  t.after(() => observer.endAsync());
  observer.on('message', (_topic, payload) => {
    const frame = JSON.parse(payload.toString('utf8')) as Frame;
    if (frame.type === 'telemetry' && frame.payload.stream === 'cpu')
      seqs.push(frame.seq as number);
  });
  await observer.subscribeAsync(deviceTopic(DEVICE, 'up'), { qos: 1 });
  return seqs;
}

async function runCommand(client: Peer, requestId: string, command: string): Promise<Frame[]> {
  client.send({ type: 'command', request_id: requestId, payload: { device_id: DEVICE, command } });
  const frames: Frame[] = [];
  for (;;) {
    const frame = await client.inbox.next((f) => f.request_id === requestId, LONG);
    frames.push(frame);
    if (frame.type === 'command_done' || frame.type === 'error') return frames;
  }
}

/** Subscribes the client to the device's cpu every 200 ms; `more(n)` waits for n more samples. */
async function subscribeCpu(
  client: Peer,
): Promise<{ seqs: number[]; more(n: number): Promise<void> }> {
  client.send({
    type: 'subscribe',
    request_id: 's',
    payload: { device_id: DEVICE, streams: ['cpu'], interval_ms: 200 },
  });
  assert.equal((await client.inbox.next((f) => f.request_id === 's', LONG)).type, 'subscribed');
  const seqs: number[] = [];
  return {
    seqs,
    async more(n) {
      for (let i = 0; i < n; i++)
        seqs.push((await client.inbox.nextOfType('telemetry', LONG)).seq as number);
    },
  };
}

function assertCommand(frames: Frame[], stdout: string): void {
  assert.equal(frames.find((f) => f.type === 'command_output')?.payload.chunk, stdout);
  assert.equal(frames.at(-1)?.type, 'command_done', JSON.stringify(frames));
  assert.equal(frames.at(-1)?.payload.exit_code, 0);
}

/** In order, never twice, and every cpu seq the agent published between the first and the last. */
function assertOnceInOrder(received: number[], published: number[]): void {
  const first = received[0] as number;
  const last = received.at(-1) as number;
  assert.equal(new Set(received).size, received.length, `repeated: ${received.join(',')}`);
  const span = [...new Set(published.filter((seq) => seq >= first && seq <= last))];
  assert.deepEqual(
    received,
    span.sort((x, y) => x - y),
  );
}

describe('the agent over MQTT with two hubs', () => {
  it('serves a client on the other hub through the device owner stopping: telemetry and commands go on, no seq missing or repeated', async (t) => {
    const broker = await startMosquitto(t);
    const hubs = [
      await fleetHub(t, broker.url, HUB_IDS[0] as string),
      await fleetHub(t, broker.url, HUB_IDS[1] as string),
    ];
    await waitFor(() => hubs.every((h) => h.hub.fleet?.hubs().length === 2), LONG);
    const owner = hubs.find((h) => h.hub.fleet?.hubId === ownerOf(DEVICE, HUB_IDS)) as TestHub;
    const survivor = hubs.find((h) => h !== owner) as TestHub;
    const published = await observeUp(t, broker.url);

    // No stream of its own: cpu comes only because a client on the survivor asks for it.
    const agent = agentOn(t, broker.url, { IOTTLY_TELEMETRY_STREAMS: '' });
    await agent.waitForLog(statusIs('online'), LONG);
    await waitFor(() => survivor.hub.device(DEVICE)?.connected === true, LONG);

    const client = await connectClient(survivor.wsUrl);
    const received = await subscribeCpu(client);
    await received.more(3);
    assertCommand(await runCommand(client, 'c1', 'echo before'), 'before\n');

    await owner.stop();
    await waitFor(() => survivor.hub.fleet?.owns(DEVICE) === true, LONG);
    await received.more(5);
    assertCommand(await runCommand(client, 'c2', 'echo after'), 'after\n');
    await received.more(1);
    assertOnceInOrder(received.seqs, published);
  });
});
