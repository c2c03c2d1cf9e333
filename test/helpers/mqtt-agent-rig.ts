import assert from 'node:assert/strict';
import { connect } from 'mqtt';
import { deviceTopic, type DevicePresence } from '../../src/protocol/mqtt-topics.js';
import { spawnAgent, statusIs, type AgentProcess } from './agent-process.js';
import { FaultProxy } from './fault-proxy.js';
import { startMosquitto } from './mosquitto.js';
import type { Owner } from './owner.js';
import { ScriptedMqttHub, type UpFrame } from './scripted-mqtt-hub.js';

/**
 * The agent as a process over a real mosquitto, with the hub played by a scripted MQTT client
 * (test/integration/agent-mqtt*.test.ts): how it is started, and what "no loss, in order" means
 * on the hub's side.
 */
export const DEVICE = 'dev1';
export const TOKEN = 'tok-dev1';
export const EVENT_MS = 20_000;

export function agentOn(owner: Owner, url: string, env: Record<string, string> = {}): AgentProcess {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: url,
    IOTTLY_DEVICE_ID: DEVICE,
    IOTTLY_AUTH_TOKEN: TOKEN,
    IOTTLY_HEARTBEAT_INTERVAL_MS: '5000',
    IOTTLY_RECONNECT_INITIAL_DELAY_MS: '100',
    IOTTLY_RECONNECT_MAX_DELAY_MS: '400',
    IOTTLY_RECONNECT_DIAL_TIMEOUT_MS: '3000',
    IOTTLY_TELEMETRY_STREAMS: 'cpu',
    IOTTLY_TELEMETRY_INTERVAL_MS: '100',
    IOTTLY_TELEMETRY_MIN_INTERVAL_MS: '100',
    IOTTLY_TELEMETRY_RANDOM_START: 'false',
    IOTTLY_LOCAL_ENABLED: 'false',
    IOTTLY_LOG_LEVEL: 'debug',
    ...env,
  });
}

export const telemetrySeqs = (frames: UpFrame[]): number[] =>
  frames.filter((f) => f.type === 'telemetry').map((f) => f.seq as number);

/** Every seq from 1 to the highest reached the hub, and each first arrival came in order. */
export function assertNoLossInOrder(frames: UpFrame[]): void {
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
export async function keepsFlowing(hub: ScriptedMqttHub, more: number): Promise<void> {
  const reached = hub.cursor(DEVICE);
  await hub.next((f) => f.seq === reached + more);
  assertNoLossInOrder(hub.frames);
}

/**
 * A broker, a hub that welcomes and acknowledges, and an agent online and sending; `proxied`:
 * the agent reaches the broker through a fault proxy.
 */
export async function welcomedAgent(owner: Owner, { proxied = false } = {}) {
  const broker = await startMosquitto(owner);
  const hub = await ScriptedMqttHub.start(owner, broker.url, { autoWelcome: true, autoAck: true });
  const proxy = proxied ? await FaultProxy.start(owner, broker.port) : null;
  const agent = agentOn(owner, proxy ? `mqtt://127.0.0.1:${proxy.port}` : broker.url);
  await agent.waitForLog(statusIs('online'), EVENT_MS);
  await keepsFlowing(hub, 3);
  return { broker, hub, agent, proxy };
}

/** The retained presence a consumer arriving now is given. */
export async function retainedPresence(owner: Owner, brokerUrl: string): Promise<DevicePresence> {
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
