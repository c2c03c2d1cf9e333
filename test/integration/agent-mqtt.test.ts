import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connect } from 'mqtt';
import { MAX_FRAME_BYTES } from '../../src/protocol/message.js';
import { deviceTopic, type DevicePresence } from '../../src/protocol/mqtt-topics.js';
import { spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import type { Owner } from '../helpers/owner.js';
import { ScriptedMqttHub, type UpFrame } from '../helpers/scripted-mqtt-hub.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The agent as a process over a real mosquitto (docs/protocol.md, "MQTT 5 transport"), with the
 * hub played by a scripted MQTT client: the handshake, presence and will, the spool's guarantees
 * across a rewind, a partition and a broker restart, a command kept by the persistent session,
 * refused credentials and hostile payloads on `down`.
 */
const DEVICE = 'dev1';
const TOKEN = 'tok-dev1';
const EVENT_MS = 20_000;

function agentOn(owner: Owner, url: string, env: Record<string, string> = {}): AgentProcess {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: url,
    IOTTLY_DEVICE_ID: DEVICE,
    IOTTLY_AUTH_TOKEN: TOKEN,
    IOTTLY_HEARTBEAT_INTERVAL_MS: '1000',
    IOTTLY_RECONNECT_INITIAL_DELAY_MS: '100',
    IOTTLY_RECONNECT_MAX_DELAY_MS: '400',
    IOTTLY_RECONNECT_DIAL_TIMEOUT_MS: '1500',
    IOTTLY_TELEMETRY_STREAMS: 'cpu',
    IOTTLY_TELEMETRY_INTERVAL_MS: '100',
    IOTTLY_TELEMETRY_MIN_INTERVAL_MS: '100',
    IOTTLY_TELEMETRY_RANDOM_START: 'false',
    IOTTLY_LOCAL_ENABLED: 'false',
    IOTTLY_LOG_LEVEL: 'debug',
    ...env,
  });
}

const telemetrySeqs = (frames: UpFrame[]): number[] =>
  frames.filter((f) => f.type === 'telemetry').map((f) => f.seq as number);

/** Every seq from 1 to the highest reached the hub, and each first arrival came in order. */
function assertNoLossInOrder(frames: UpFrame[]): void {
  const seqs = frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq as number);
  const firsts = seqs.filter((seq, i) => seqs.indexOf(seq) === i);
  const highest = Math.max(...seqs);
  assert.deepEqual(
    firsts,
    Array.from({ length: highest }, (_, i) => i + 1),
    `seqs as received: ${seqs.join(',')}`,
  );
}

/** Telemetry goes on: `more` seqs past the hub's cursor arrive, none lost, first arrivals in order. */
async function keepsFlowing(hub: ScriptedMqttHub, more: number): Promise<void> {
  const reached = hub.cursor(DEVICE);
  await hub.next((f) => f.seq === reached + more);
  assertNoLossInOrder(hub.frames);
}

/**
 * A broker, a hub that welcomes and acknowledges, and an agent online and sending; `proxied`:
 * the agent reaches the broker through a fault proxy.
 */
async function welcomedAgent(owner: Owner, { proxied = false } = {}) {
  const broker = await startMosquitto(owner);
  const hub = await ScriptedMqttHub.start(owner, broker.url, { autoWelcome: true, autoAck: true });
  const proxy = proxied ? await FaultProxy.start(owner, broker.port) : null;
  const agent = agentOn(owner, proxy ? `mqtt://127.0.0.1:${proxy.port}` : broker.url);
  await agent.waitForLog(statusIs('online'), EVENT_MS);
  await keepsFlowing(hub, 3);
  return { broker, hub, agent, proxy };
}

/** The retained presence a consumer arriving now is given. */
async function retainedPresence(owner: Owner, brokerUrl: string): Promise<DevicePresence> {
  const client = connect(brokerUrl, { protocolVersion: 5, clean: true, reconnectPeriod: 0 });
  owner.after(() => client.endAsync(true));
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const presence = new Promise<DevicePresence>((resolve) =>
    client.once('message', (_topic, payload) =>
      resolve(JSON.parse(payload.toString('utf8')) as DevicePresence),
    ),
  );
  await client.subscribeAsync(deviceTopic(DEVICE, 'presence'), { qos: 1 });
  return presence;
}

describe('agent over MQTT 5', { skip: !hasMosquitto() && 'mosquitto is not installed' }, () => {
  it('says hello on up, keeps a retained presence, spools until welcome, and resends from last_seq after a second welcome', async (t) => {
    const broker = await startMosquitto(t);
    const hub = await ScriptedMqttHub.start(t, broker.url);
    const agent = agentOn(t, broker.url);

    const hello = await hub.next((f) => f.type === 'hello');
    assert.equal(hello.payload.device_id, DEVICE);
    const online = await hub.presenceOf(DEVICE, (p) => p.online);
    assert.equal(online.hello.agent_version, hello.payload.agent_version);
    const retained = await retainedPresence(t, broker.url);
    assert.equal(retained.online, true);
    assert.equal(retained.hello.store_id, hello.payload.store_id);

    // No welcome: nothing but hellos, again after the back-off on the same broker connection.
    await agent.waitForLog(
      (l) => statusIs('backoff')(l) && l.status?.reason === 'dial_timeout',
      EVENT_MS,
    );
    await hub.next((f) => f.type === 'hello', hub.frames.indexOf(hello) + 1);
    assert.deepEqual(telemetrySeqs(hub.frames), [], 'nothing sent before welcome');
    assert.equal(agent.logs.filter(statusIs('connecting')).length, 1, 'one broker connection');

    await hub.welcome(DEVICE, 0);
    await agent.waitForLog(statusIs('online'), EVENT_MS);
    await hub.next((f) => f.seq === 12);
    const beforeRewind = hub.frames.length;
    // What was spooled while no hub answered, then the live ones: each once, in order.
    const seqs = hub.frames.filter((f) => f.seq !== undefined).map((f) => f.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i + 1),
    );

    // Another hub takes the device over with last_seq 5: 6 and on come again, in order.
    await hub.welcome(DEVICE, 5);
    await agent.waitForLog((l) => l.code === 'link_rewound', EVENT_MS);
    await hub.next((f) => f.seq === 6, beforeRewind);
    const resent = telemetrySeqs(hub.frames.slice(beforeRewind));
    const from6 = resent.slice(resent.indexOf(6));
    assert.deepEqual(
      from6.slice(0, 7),
      [6, 7, 8, 9, 10, 11, 12],
      `after the rewind: ${resent.join(',')}`,
    );
    assertNoLossInOrder(hub.frames);
    assert.equal(agent.child.exitCode, null);
  });

  it('delivers a command sent while the agent was cut off from the broker (persistent session), and its will says offline meanwhile', async (t) => {
    const { hub, agent, proxy } = await welcomedAgent(t, { proxied: true });
    assert.ok(proxy);

    proxy.setMode('reset');
    await agent.waitForLog(statusIs('backoff'), EVENT_MS);
    const offline = await hub.presenceOf(DEVICE, (p) => !p.online);
    assert.equal(offline.hello.device_id, DEVICE, 'the will carries the hello');
    await hub.send(DEVICE, {
      type: 'command',
      request_id: 'while-away',
      payload: { command: 'echo kept' },
    });

    proxy.setMode('pass');
    const done = await hub.next((f) => f.type === 'command_done' && f.request_id === 'while-away');
    assert.equal(done.payload.exit_code, 0, JSON.stringify(done.payload));
    const replies = hub.frames.filter((f) => f.request_id === 'while-away');
    assert.match(JSON.stringify(replies), /kept/);
    await hub.presenceOf(DEVICE, (p) => p.online);
    await keepsFlowing(hub, 3);
  });

  it('comes back after a broker restart and loses no seq', async (t) => {
    const { broker, hub, agent } = await welcomedAgent(t);
    const onlineBefore = agent.logs.filter(statusIs('online')).length;
    await broker.restart();
    await agent.waitForLog(statusIs('backoff'), EVENT_MS);
    await agent.waitForLog(
      (l) => statusIs('online')(l) && agent.logs.filter(statusIs('online')).length > onlineBefore,
      EVENT_MS,
    );
    await keepsFlowing(hub, 5);
  });

  it('publishes presence offline on SIGTERM, and its will does on SIGKILL', async (t) => {
    const broker = await startMosquitto(t);
    const hub = await ScriptedMqttHub.start(t, broker.url, { autoWelcome: true, autoAck: true });

    const stopped = agentOn(t, broker.url);
    await stopped.waitForLog(statusIs('online'), EVENT_MS);
    await hub.presenceOf(DEVICE, (p) => p.online);
    const { code } = await stopped.kill('SIGTERM');
    assert.equal(code, 0);
    assert.equal((await hub.presenceOf(DEVICE, (p) => !p.online)).online, false);
    assert.equal((await retainedPresence(t, broker.url)).online, false);
    assert.doesNotMatch(broker.log(), /dev1.*(closed its connection|exceeded timeout)/i);

    const killed = agentOn(t, broker.url);
    await killed.waitForLog(statusIs('online'), EVENT_MS);
    await hub.presenceOf(DEVICE, (p) => p.online);
    await killed.kill('SIGKILL');
    const will = await hub.presenceOf(DEVICE, (p) => !p.online);
    assert.equal(will.hello.device_id, DEVICE);
    assert.equal((await retainedPresence(t, broker.url)).online, false);
  });

  it('logs refused credentials once, backs off and keeps running', async (t) => {
    const dir = tempDir('iottly-mqtt-auth-', t);
    const passwords = join(dir, 'passwords');
    execFileSync('mosquitto_passwd', ['-b', '-c', passwords, DEVICE, TOKEN]);
    // mosquitto reads the file after it drops root for its own user: let that user read it.
    chmodSync(dir, 0o755);
    chmodSync(passwords, 0o644);
    const broker = await startMosquitto(t, { passwordFile: passwords });
    const agent = agentOn(t, broker.url, { IOTTLY_AUTH_TOKEN: 'wrong' });

    await agent.waitForLog(
      (l) => statusIs('backoff')(l) && l.status?.reason === 'auth_rejected',
      EVENT_MS,
    );
    await agent.waitForLog(
      (l) => statusIs('connecting')(l) && (l.status as { attempt?: number }).attempt === 3,
      EVENT_MS,
    );
    assert.equal(agent.logs.filter((l) => l.code === 'auth_rejected').length, 1, 'once per streak');
    assert.equal(agent.child.exitCode, null);
    assert.equal(agent.logs.filter(statusIs('online')).length, 0);
  });

  it('refuses a payload over 1 MiB or not UTF-8 on down, answers non-JSON with an error frame, and keeps running', async (t) => {
    const broker = await startMosquitto(t);
    const hub = await ScriptedMqttHub.start(t, broker.url, { autoWelcome: true, autoAck: true });
    const agent = agentOn(t, broker.url);
    await agent.waitForLog(statusIs('online'), EVENT_MS);

    await hub.send(DEVICE, Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20));
    await agent.waitForLog(
      (l) => l.code === 'frame_refused' && l.bytes === MAX_FRAME_BYTES + 1,
      EVENT_MS,
    );
    await hub.send(DEVICE, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    await agent.waitForLog((l) => l.code === 'frame_refused' && l.bytes === 4, EVENT_MS);
    // Over the CONNECT's maximum packet size: the broker never delivers it.
    await hub.send(DEVICE, Buffer.alloc(2 * MAX_FRAME_BYTES, 0x20));
    await hub.send(DEVICE, 'not json');
    const error = await hub.next((f) => f.type === 'error');
    assert.equal(error.payload.code, 'invalid_json');

    await hub.send(DEVICE, { type: 'command', request_id: 'after', payload: { command: 'true' } });
    await hub.next((f) => f.type === 'command_done' && f.request_id === 'after');
    assert.equal(agent.logs.filter((l) => l.code === 'frame_refused').length, 2);
    assert.equal(agent.logs.filter(statusIs('connecting')).length, 1, 'the link stayed up');
    assert.equal(agent.child.exitCode, null);
  });
});
