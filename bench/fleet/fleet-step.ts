/**
 * One fleet size, measured: `iottly-agent hub` as a process, the N agents in fleet shards
 * (processes of thousands of agents each, as few as the open-file limit allows: one up to
 * ~3,000 agents here), and a stream client in a process of its own subscribed to all their
 * telemetry. After every agent is online and a settling pause, a window of sample times is
 * measured: the CPU of every process and the hub's memory from /proc, the shards' event-loop
 * delay (the simulator's own load, which inflates the delay when it saturates), and at the
 * client the delay and count of every sample taken in the window.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHubProcess, type HubProcess } from '../lib/hub-process.js';
import { cpuNanos, memoryOf } from '../lib/proc-stats.js';
import type { DeliveryFigures, FromStreamClient, ToStreamClient } from './client-protocol.js';
import { ForkedPeer } from './forked-peer.js';
import type { SampleWindow } from './sample-tally.js';
import type { FromFleetShard, ToFleetShard } from './shard-protocol.js';
import type { FleetDevice } from './simulated-fleet.js';

const FLEET_STREAMS = ['cpu', 'memory', 'temperature'];
const SAMPLE_INTERVAL_MS = 1_000;
const API_KEY = `fleet-${randomBytes(9).toString('base64url')}`;
const SHARD_SCRIPT = fileURLToPath(new URL('./fleet-shard.ts', import.meta.url));
const CLIENT_SCRIPT = fileURLToPath(new URL('./stream-client.ts', import.meta.url));
/** Longest wait for the client's subscriptions to be confirmed. */
const SUBSCRIBE_TIMEOUT_MS = 60_000;
/** Per group of 100 agents started (each group has 30 s to come online). */
const START_TIMEOUT_PER_100_MS = 30_000;
/** How long before its start the window is announced to the shards and the client. */
const WINDOW_NOTICE_MS = 2_000;
/** Longest wait, after the window, for its last samples to leave the agents. */
const SEND_GRACE_MS = 5_000;
/** Longest wait, after that, for them to reach the client. */
const ARRIVAL_GRACE_MS = 10_000;

type Shard = ForkedPeer<ToFleetShard, FromFleetShard>;
type Client = ForkedPeer<ToStreamClient, FromStreamClient>;

export interface FleetStepOptions {
  agents: number;
  /** Most agents one shard process holds (its open files). */
  agentsPerShard: number;
  /** Length of the measured window. */
  seconds: number;
  /** Pause between "all online" and the window (random start phases, first demand). */
  settleSeconds: number;
  progress: (line: string) => void;
}

export interface FleetStepResult {
  agents: number;
  shards: number;
  /** Why the step could not be measured (agents not online, a process died), or null. */
  failure: string | null;
  windowSeconds: number;
  /** From the first agent started to the last one online. */
  connectSeconds: number;
  hubCpuPercent: number;
  hubRssBytes: number;
  hubRssAnonBytes: number;
  /** Every shard together, in % of one core. */
  fleetCpuPercent: number;
  /** The worst shard's. */
  fleetLoopDelayP99Ms: number;
  clientCpuPercent: number;
  /**
   * Samples due in the window, agents × streams × seconds at 1 Hz: approximate, since a sample
   * is stamped when taken, and a loop late at the window's start and on time at its end
   * stamps a few more inside it.
   */
  expectedSamples: number;
  /** Samples of the window the agents wrote to their sockets. */
  sent: number;
  received: number;
  lost: number;
  duplicates: number;
  framesPerSecond: number;
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  linkDrops: number;
}

function fleetDevices(count: number): FleetDevice[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `fleet-${String(i + 1).padStart(5, '0')}`,
    token: `fleet-token-${i + 1}-${randomBytes(6).toString('hex')}`,
  }));
}

export async function runFleetStep(options: FleetStepOptions): Promise<FleetStepResult> {
  const { agents, progress } = options;
  const devices = fleetDevices(agents);
  const groups = split(devices, Math.ceil(agents / options.agentsPerShard));
  const result = emptyResult(agents, groups.length, options.seconds);
  let hub: HubProcess | null = null;
  let client: Client | null = null;
  const shards: Shard[] = [];
  try {
    // One stream client subscribes to every device: past the hub's default of 100 per client.
    hub = await startHubProcess(new Map(devices.map((d) => [d.id, d.token])), API_KEY, 'warn', [
      '--max-subscriptions-per-client',
      String(devices.length),
    ]);
    client = new ForkedPeer('stream client', CLIENT_SCRIPT);
    const settings = {
      wsUrl: hub.wsUrl,
      apiKey: API_KEY,
      deviceIds: devices.map((d) => d.id),
      streams: FLEET_STREAMS,
    };
    await client.ask({ kind: 'subscribe', settings }, 'ready', SUBSCRIBE_TIMEOUT_MS);

    const connectStarted = performance.now();
    const deviceUrl = `${hub.wsUrl}/v1/device`;
    for (const [i, group] of groups.entries()) {
      const shard: Shard = new ForkedPeer(`fleet shard ${i + 1}`, SHARD_SCRIPT);
      shards.push(shard);
      const start = {
        deviceUrl,
        devices: group,
        streams: FLEET_STREAMS,
        intervalMs: SAMPLE_INTERVAL_MS,
      };
      const timeoutMs = Math.ceil(group.length / 100 + 1) * START_TIMEOUT_PER_100_MS;
      await shard.ask({ kind: 'start', settings: start }, 'online', timeoutMs);
    }
    result.connectSeconds = (performance.now() - connectStarted) / 1000;
    progress(
      `${agents} agents online in ${result.connectSeconds.toFixed(1)} s (${shards.length} shard process${shards.length > 1 ? 'es' : ''}); settling`,
    );
    await sleep(options.settleSeconds * 1000);

    // Announced ahead of its start, so that a shard whose loop lags still hears of the window
    // before its first sample is taken.
    const startMs = Date.now() + WINDOW_NOTICE_MS;
    const window: SampleWindow = { startMs, endMs: startMs + options.seconds * 1000 };
    for (const peer of [...shards, client]) peer.send({ kind: 'window', window });
    await sleep(startMs - Date.now());
    const usage = measureCpu(
      hub.pid,
      client.pid,
      shards.map((shard) => shard.pid),
    );
    await sleep(window.endMs - Date.now());
    Object.assign(result, usage.stop(), hubMemory(hub.pid));

    // Sent, then received, then sent again: a sample a saturated shard writes after it first
    // answered is still counted, and counted lost if the client never sees it.
    const sentSoFar = await sentByShards(shards, window.endMs, SEND_GRACE_MS);
    const { figures } = await client.ask(
      { kind: 'collect', expected: sentSoFar.sent, graceMs: ARRIVAL_GRACE_MS },
      'figures',
      ARRIVAL_GRACE_MS + 5_000,
    );
    const sent = await sentByShards(shards, window.endMs, 0);
    Object.assign(result, sent, deliveryFigures(figures, sent.sent, options.seconds));
    if (hub.child.exitCode !== null) result.failure = `the hub exited (${hub.child.exitCode})`;
  } catch (err) {
    result.failure = (err as Error).message;
  } finally {
    await Promise.all(shards.map((shard) => shard.stop()));
    await client?.stop();
    await hub?.stop();
  }
  return result;
}

/** `items` in `parts` runs of near-equal length. */
function split<T>(items: readonly T[], parts: number): T[][] {
  const size = Math.ceil(items.length / parts);
  return Array.from({ length: parts }, (_, i) => items.slice(i * size, (i + 1) * size));
}

function emptyResult(agents: number, shards: number, seconds: number): FleetStepResult {
  return {
    agents,
    shards,
    failure: null,
    windowSeconds: seconds,
    connectSeconds: 0,
    hubCpuPercent: 0,
    hubRssBytes: 0,
    hubRssAnonBytes: 0,
    fleetCpuPercent: 0,
    fleetLoopDelayP99Ms: 0,
    clientCpuPercent: 0,
    expectedSamples: (agents * FLEET_STREAMS.length * seconds * 1000) / SAMPLE_INTERVAL_MS,
    sent: 0,
    received: 0,
    lost: 0,
    duplicates: 0,
    framesPerSecond: 0,
    delayP50Ms: 0,
    delayP99Ms: 0,
    delayMaxMs: 0,
    linkDrops: 0,
  };
}

/** CPU of the hub, the client and the shards, from now on. */
function measureCpu(
  hubPid: number,
  clientPid: number,
  shardPids: number[],
): { stop(): Pick<FleetStepResult, 'hubCpuPercent' | 'clientCpuPercent' | 'fleetCpuPercent'> } {
  const started = performance.now();
  const fleetCpu = (): number => shardPids.reduce((sum, pid) => sum + cpuNanos(pid), 0);
  const hub0 = cpuNanos(hubPid);
  const client0 = cpuNanos(clientPid);
  const fleet0 = fleetCpu();
  return {
    stop() {
      const elapsedNs = (performance.now() - started) * 1e6;
      return {
        hubCpuPercent: ((cpuNanos(hubPid) - hub0) / elapsedNs) * 100,
        clientCpuPercent: ((cpuNanos(clientPid) - client0) / elapsedNs) * 100,
        fleetCpuPercent: ((fleetCpu() - fleet0) / elapsedNs) * 100,
      };
    },
  };
}

function hubMemory(pid: number): Pick<FleetStepResult, 'hubRssBytes' | 'hubRssAnonBytes'> {
  const memory = memoryOf(pid);
  return { hubRssBytes: memory.rssBytes, hubRssAnonBytes: memory.rssAnonBytes };
}

/** What the shards' agents sent of the window, once their streams are past it or `graceMs`. */
async function sentByShards(
  shards: Shard[],
  endMs: number,
  graceMs: number,
): Promise<Pick<FleetStepResult, 'sent' | 'linkDrops' | 'fleetLoopDelayP99Ms'>> {
  const collect = { kind: 'collect', endMs, graceMs } as const;
  const figures = await Promise.all(
    shards.map(async (shard) => (await shard.ask(collect, 'sent', graceMs + 5_000)).figures),
  );
  return {
    sent: figures.reduce((sum, s) => sum + s.sent, 0),
    linkDrops: figures.reduce((sum, s) => sum + s.linkDrops, 0),
    fleetLoopDelayP99Ms: Math.max(...figures.map((s) => s.loopDelayP99Ms)),
  };
}

function deliveryFigures(
  figures: DeliveryFigures,
  sent: number,
  seconds: number,
): Partial<FleetStepResult> {
  return {
    received: figures.received,
    lost: Math.max(0, sent - figures.received),
    duplicates: figures.duplicates,
    framesPerSecond: figures.received / seconds,
    delayP50Ms: figures.delayP50Ms,
    delayP99Ms: figures.delayP99Ms,
    delayMaxMs: figures.delayMaxMs,
  };
}
