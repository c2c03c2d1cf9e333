import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ownerOf } from '../../src/hub/fleet/rendezvous.js';
import { spawnAgent } from '../helpers/agent-process.js';
import { spawnFleetHub } from '../helpers/fleet-hub-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/temp-dir.js';
import { connectScriptedDevice, type ScriptedDevice } from '../helpers/mqtt-device.js';
import {
  connectClient,
  startHub,
  telemetryFrame,
  waitFor,
  type Frame,
  type Peer,
} from '../helpers/ws.js';

/**
 * What a fleet of hubs survives: a hub killed (its will clears its presence, another hub takes
 * its devices over), and the loss of a hub's own broker connection (devices go offline in that
 * hub, which redials and learns the fleet again from the retained messages). Hubs run in-process
 * or as `iottly-agent hub --broker` processes (dist/cli.js: run `npm run build` first).
 */
const LONG = 20_000;
const HUB_B = 'hub-bbbbbbbbbbbb';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

async function subscribeCpu(client: Peer, deviceId: string): Promise<void> {
  client.send({
    type: 'subscribe',
    request_id: 's',
    payload: { device_id: deviceId, streams: ['cpu'] },
  });
  const reply = await client.inbox.next((f) => f.request_id === 's', LONG);
  assert.equal(reply.type, 'subscribed', JSON.stringify(reply));
}

async function telemetrySeqs(client: Peer, count: number): Promise<number[]> {
  const seqs: number[] = [];
  while (seqs.length < count)
    seqs.push((await client.inbox.nextOfType('telemetry', LONG)).seq as number);
  return seqs;
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function sendTelemetry(device: ScriptedDevice, seqs: number[]): Promise<void> {
  for (const seq of seqs) await device.send(telemetryFrame(seq));
}

describe('a fleet of hubs when one fails', () => {
  it('hub A killed (SIGKILL): hub B takes its device over with the cursor, and its clients miss and repeat no seq', async (t) => {
    const broker = await startMosquitto(t);
    const a = await spawnFleetHub(t, broker.url);
    const b = await startHub(t, {
      deviceTokens: new Map(),
      fleet: { url: broker.url, hubId: HUB_B },
    });
    await waitFor(() => b.hub.fleet?.hubs().length === 2, LONG);
    // A device that hub A owns, whatever random id it drew.
    const deviceId =
      range(1, 200)
        .map((i) => `dev-${i}`)
        .find((id) => ownerOf(id, [a.hubId, HUB_B]) === a.hubId) ?? '';
    const device = await connectScriptedDevice(t, broker.url, deviceId);
    await device.comeOnline();
    assert.equal((await device.nextOfType('welcome', LONG)).payload.last_seq, 0);
    const onA = await connectClient(a.url.replace(/^http/, 'ws'));
    const onB = await connectClient(b.wsUrl);
    await subscribeCpu(onA, deviceId);
    await subscribeCpu(onB, deviceId);
    await sendTelemetry(device, range(1, 5));
    assert.deepEqual(await telemetrySeqs(onA, 5), range(1, 5));
    assert.deepEqual(await telemetrySeqs(onB, 5), range(1, 5));
    await device.next((f) => f.type === 'ack' && (f.payload.seq as number) >= 5, LONG);

    await a.process.kill('SIGKILL');
    // Only hub A's own clients lose their connection.
    assert.equal((await onA.closed).code, 1006);
    // The welcome carries the cursor hub A left: it publishes one at the first ack and then at
    // most every CURSOR_INTERVAL_MS, so it may trail the acks (never lead them).
    const welcome = await device.nextOfType('welcome', LONG);
    const cursor = welcome.payload.last_seq as number;
    assert.ok(cursor >= 1 && cursor <= 5, `welcome.last_seq ${cursor}`);
    assert.ok(b.hub.fleet?.owns(deviceId), 'hub B owns the device');
    // A device sends again from before what it knows was acknowledged (here from 4), then goes
    // on: hub B drops what it relayed already.
    await sendTelemetry(device, range(4, 10));
    assert.deepEqual(await telemetrySeqs(onB, 5), range(6, 10));
    await device.next((f) => f.type === 'ack' && (f.payload.seq as number) >= 10, LONG);
    assert.deepEqual(
      onB.inbox.unread.filter((f: Frame) => f.type === 'telemetry'),
      [],
    );
    // A new client, as one of hub A's would reconnect to hub B, gets the rest.
    const moved = await connectClient(b.wsUrl);
    await subscribeCpu(moved, deviceId);
    await sendTelemetry(device, [11]);
    assert.deepEqual(await telemetrySeqs(moved, 1), [11]);
  });

  it('a hub that loses its broker takes its devices offline, redials, and learns the fleet again', async (t) => {
    const broker = await startMosquitto(t);
    const b = await startHub(t, {
      deviceTokens: new Map(),
      fleet: {
        url: broker.url,
        hubId: HUB_B,
        connection: { backoff: { initialDelayMs: 100, maxDelayMs: 400 } },
      },
    });
    await waitFor(() => b.hub.fleet?.hubs().length === 1, LONG);
    const deviceId = 'dev-restart';
    let device = await connectScriptedDevice(t, broker.url, deviceId);
    await device.comeOnline();
    await device.nextOfType('welcome', LONG);
    const client = await connectClient(b.wsUrl);
    await subscribeCpu(client, deviceId);
    await sendTelemetry(device, range(1, 3));
    assert.deepEqual(await telemetrySeqs(client, 3), range(1, 3));
    await device.next((f) => f.type === 'ack' && (f.payload.seq as number) >= 3, LONG);

    await broker.stop();
    await waitFor(() => b.hub.fleet?.connected === false, LONG);
    assert.equal(b.hub.device(deviceId)?.connected, false, 'offline while the hub has no broker');
    await broker.start();
    await waitFor(() => b.hub.fleet?.connected === true && b.hub.fleet.hubs().length === 1, LONG);
    // The device's retained presence, the cursor and the wants came back from the broker.
    await waitFor(() => b.hub.device(deviceId) !== undefined, LONG);

    device = await connectScriptedDevice(t, broker.url, deviceId);
    await device.comeOnline();
    const welcome = await device.nextOfType('welcome', LONG);
    assert.equal(welcome.payload.last_seq, 3, 'the retained cursor survived the broker restart');
    assert.deepEqual(
      (await device.nextOfType('streams', LONG)).payload.streams,
      [{ name: 'cpu' }],
      "the client's subscription still wants cpu",
    );
    await sendTelemetry(device, range(4, 6));
    assert.deepEqual(await telemetrySeqs(client, 3), range(4, 6));
  });

  it('a hub process signs in with --broker-username and --broker-password-file; refused credentials are logged and the hub runs on', async (t) => {
    const dir = tempDir('iottly-fleet-auth-', t);
    const passwords = join(dir, 'passwords');
    execFileSync(MOSQUITTO_PASSWD, ['-b', '-c', passwords, 'hub1', 's3cret']);
    // mosquitto started as root reads it as its own user.
    chmodSync(dir, 0o755);
    chmodSync(passwords, 0o644);
    const broker = await startMosquitto(t, { passwordFile: passwords });
    const good = join(dir, 'good');
    const bad = join(dir, 'bad');
    writeFileSync(good, 's3cret\n');
    writeFileSync(bad, 'wrong\n');

    const hub = await spawnFleetHub(t, broker.url, [
      '--broker-username',
      'hub1',
      '--broker-password-file',
      good,
    ]);
    assert.match(hub.hubId, /^hub-/);
    assert.ok(!hub.process.output().includes('s3cret'), 'the password is never logged');

    const refused = spawnAgent(t, [
      'hub',
      '--broker',
      broker.url,
      '--broker-username',
      'hub1',
      '--broker-password-file',
      bad,
      '--port',
      '0',
      '--log-format',
      'json',
    ]);
    const line = await refused.waitForLog(
      (l) => l.code === 'broker_link_failed' && /refused the hub/.test(l.msg),
      LONG,
    );
    assert.equal(line.level, 'error');
    assert.equal(refused.child.exitCode, null, 'it runs on and redials later');
    assert.equal((await refused.kill('SIGTERM')).code, 0);
  });
});
