import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { ownerOf } from '../../src/hub/fleet/rendezvous.js';
import { deviceTopic } from '../../src/protocol/mqtt-topics.js';
import { CLI_PATH, statusIs } from '../helpers/agent-process.js';
import { spawnFleetHub, type FleetHubProcess } from '../helpers/fleet-hub-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { DEVICE, TOKEN, agentOn } from '../helpers/mqtt-agent-rig.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import { connectClient, type Frame, type Peer } from '../helpers/ws.js';

/**
 * The "done when", as an operator sets it up, all real processes: `broker-config
 * mosquitto` writes the passwords and ACL, mosquitto runs with them, two `iottly-agent hub
 * --broker` processes sign in with a hub credential, and one `iottly-agent run` over mqtt://
 * with its device token. A stream client on one hub receives the device's telemetry and runs a
 * command; the other hub, the one that owns the device (it acknowledges, so its death is the
 * hard case), is killed; telemetry and commands go on through the first hub with no seq missing
 * or repeated.
 */
const EVENT_MS = 20_000;
const HUB_USER = 'hubs';
const HUB_PASSWORD = 'hub-password-0123456789';

const run = promisify(execFile);

async function setUpBroker(t: Owner): Promise<{ url: string; hubPasswordFile: string }> {
  const dir = tempDir('iottly-fleet-on-broker-', t);
  const out = join(dir, 'mosquitto');
  await run(process.execPath, [
    CLI_PATH,
    'broker-config',
    'mosquitto',
    '--out',
    out,
    '--device-token',
    `${DEVICE}=${TOKEN}`,
    '--hub-credential',
    `${HUB_USER}=${HUB_PASSWORD}`,
  ]);
  const broker = await startMosquitto(t, {
    passwordFile: join(out, 'passwords'),
    aclFile: join(out, 'acl'),
    // As root, mosquitto would switch to its own user, which cannot read a 0600 file of ours.
    extraConfig: [`user ${userInfo().username}`],
  });
  const hubPasswordFile = join(dir, 'hub-password');
  writeFileSync(hubPasswordFile, `${HUB_PASSWORD}\n`, { mode: 0o600 });
  return { url: broker.url, hubPasswordFile };
}

/** A hub process signed in with the hub credential that broker-config wrote. */
function fleetHub(t: Owner, brokerUrl: string, passwordFile: string): Promise<FleetHubProcess> {
  return spawnFleetHub(t, brokerUrl, [
    '--broker-username',
    HUB_USER,
    '--broker-password-file',
    passwordFile,
  ]);
}

/** Every frame the client gets that carries the device's seq, in arrival order. */
function seqsOf(frames: readonly Frame[]): number[] {
  return frames.flatMap((f) => (typeof f.seq === 'number' ? [f.seq] : []));
}

/** Collects every frame a client receives (the inbox hands frames out once). */
function recordAll(client: Peer): Frame[] {
  const frames: Frame[] = [];
  client.ws.on('message', (data, isBinary) => {
    if (!isBinary) frames.push(JSON.parse(data.toString()) as Frame);
  });
  return frames;
}

/** The device's retained cursor as a hub reads it (the hub credential may read everything). */
/**
 * Resolves once the device's retained cursor (then its live updates) reaches `atLeast`: the
 * owner publishes it at most every CURSOR_INTERVAL_MS, so it may trail the acks that long.
 */
async function cursorReaching(t: Owner, brokerUrl: string, atLeast: number): Promise<number> {
  const reader = await mqtt.connectAsync(brokerUrl, {
    protocolVersion: 5,
    username: HUB_USER,
    password: HUB_PASSWORD,
    reconnectPeriod: 0,
  });
  t.after(() => reader.endAsync(true));
  const cursor = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the cursor did not reach ${atLeast} within ${EVENT_MS} ms`)),
      EVENT_MS,
    );
    reader.on('message', (_topic, payload) => {
      const { last_seq } = JSON.parse(payload.toString('utf8')) as { last_seq: number };
      if (last_seq < atLeast) return;
      clearTimeout(timer);
      resolve(last_seq);
    });
  });
  await reader.subscribeAsync(deviceTopic(DEVICE, 'cursor'), { qos: 1 });
  return cursor;
}

async function runCommand(client: Peer, requestId: string, word: string): Promise<Frame> {
  client.send({
    type: 'command',
    request_id: requestId,
    payload: { device_id: DEVICE, argv: ['echo', word] },
  });
  return client.inbox.next(
    (f) => f.type === 'command_done' && f.request_id === requestId,
    EVENT_MS,
  );
}

async function telemetryAfter(client: Peer, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await client.inbox.nextOfType('telemetry', EVENT_MS);
}

describe('a fleet on mosquitto with generated credentials', () => {
  it('two hubs and an agent over mqtt://: a client on one hub keeps telemetry and commands, with no seq missing or repeated, when the owning hub is killed', async (t) => {
    const broker = await setUpBroker(t);
    const first = await fleetHub(t, broker.url, broker.hubPasswordFile);
    const second = await fleetHub(t, broker.url, broker.hubPasswordFile);
    const agent = agentOn(t, broker.url, { IOTTLY_TELEMETRY_STREAMS: '' });
    await agent.waitForLog(statusIs('online'), EVENT_MS);

    // The hub that owns the device is the one to kill ("A"); the client stays on the other ("B").
    const ownerId = ownerOf(DEVICE, [first.hubId, second.hubId]);
    const [a, b] = ownerId === first.hubId ? [first, second] : [second, first];
    const client = await connectClient(b.url.replace(/^http/, 'ws'));
    t.after(() => client.ws.terminate());
    const frames = recordAll(client);
    client.send({
      type: 'subscribe',
      request_id: 'sub',
      payload: { device_id: DEVICE, streams: ['cpu'], interval_ms: 100 },
    });
    assert.equal(
      (await client.inbox.next((f) => f.request_id === 'sub', EVENT_MS)).type,
      'subscribed',
    );
    await telemetryAfter(client, 5);
    const before = await runCommand(client, 'before', 'one');
    assert.equal(before.payload.exit_code, 0, JSON.stringify(before.payload));

    await a.process.kill('SIGKILL');
    // Hub B takes the device over (its will cleared A's presence): a welcome with the cursor.
    await b.process.waitForLog(
      (l) => l.msg === 'device taken over' && l.deviceId === DEVICE,
      EVENT_MS,
    );
    await telemetryAfter(client, 20);
    const after = await runCommand(client, 'after', 'two');
    assert.equal(after.payload.exit_code, 0, JSON.stringify(after.payload));
    await telemetryAfter(client, 5);

    const outputs = frames
      .filter((f) => f.type === 'command_output')
      .map((f) => `${f.request_id}:${String(f.payload.chunk)}`);
    assert.deepEqual(outputs, ['before:one\n', 'after:two\n']);
    // Every frame after the subscription is telemetry for this client or a reply to it: the
    // seqs it receives run on by one, none missing and none repeated, across the kill.
    const seqs = seqsOf(frames);
    const problems = seqs.flatMap((seq, i) =>
      i > 0 && seq !== (seqs[i - 1] as number) + 1 ? [`${seqs[i - 1]} → ${seq}`] : [],
    );
    assert.deepEqual(problems, [], `seqs ${seqs.join(' ')}`);
    assert.ok(seqs.length >= 30, `${seqs.length} seqs`);
    // Hub B acknowledges now: the retained cursor reaches what the client received.
    const last = seqs.at(-1) as number;
    assert.ok((await cursorReaching(t, broker.url, last)) >= last, 'cursor follows the stream');
  });
});
