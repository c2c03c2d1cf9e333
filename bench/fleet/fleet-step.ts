/**
 * One fleet size, measured: what serves the fleet (bench/fleet/fleet-servers.ts: one hub, or a
 * mosquitto and H hubs on it), the N agents in fleet shards (processes of thousands of agents
 * each, as few as the open-file limit allows: one up to ~3,000 agents here), and one stream
 * client per hub, each a process of its own subscribed to its hub's share of the devices (all of
 * them with one hub). After every agent is online, every hub knows every device, the clients
 * are subscribed and a settling pause has passed, a window of sample times is measured: the CPU
 * of every process and the hubs' and broker's memory from /proc, the shards' event-loop delay
 * (the simulator's own load, which inflates the delay when it saturates), and at the clients
 * the delay and count of every sample taken in the window.
 *
 * Why a share per hub, not every device on every hub: an operator's backends reach the hubs
 * through a load balancer, each with its own devices, and that is what adding a hub is meant to
 * spread. Together the shares cover every device once, so a lost frame is counted as exactly as
 * with one client.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuNanos, memoryOf, openFdCount } from '../lib/proc-stats.js';
import type { DeliveryFigures, FromStreamClient, ToStreamClient } from './client-protocol.js';
import { DelayHistogram } from './delay-histogram.js';
import { startFleetServers, type FleetServers, type FleetTransport } from './fleet-servers.js';
import { ForkedPeer } from './forked-peer.js';
import type { SampleWindow } from './sample-tally.js';
import type { FromFleetShard, ShardFigures, ToFleetShard } from './shard-protocol.js';
import type { FleetDevice } from './simulated-fleet.js';

const FLEET_STREAMS = ['cpu', 'memory', 'temperature'];
/** Shards' spools (and fixture trees) in memory where it can: the disk is not what is measured. */
const SCRATCH_PARENT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const SAMPLE_INTERVAL_MS = 1_000;
const API_KEY = `fleet-${randomBytes(9).toString('base64url')}`;
const SHARD_SCRIPT = fileURLToPath(new URL('./fleet-shard.ts', import.meta.url));
const CLIENT_SCRIPT = fileURLToPath(new URL('./stream-client.ts', import.meta.url));
/** Longest wait for every hub to list every device once the agents are online. */
const KNOWN_TIMEOUT_MS = 60_000;
/** Longest wait for a client's subscriptions to be confirmed. */
const SUBSCRIBE_TIMEOUT_MS = 60_000;
/** Per group of 100 agents started (each group has 30 s to come online). */
const START_TIMEOUT_PER_100_MS = 30_000;
/** How long before its start the window is announced to the shards and the clients. */
const WINDOW_NOTICE_MS = 2_000;
/** Longest wait, after the window, for its last samples to leave the agents. */
const SEND_GRACE_MS = 5_000;
/** Longest wait, after that, for them to reach the clients. */
const ARRIVAL_GRACE_MS = 10_000;

type Shard = ForkedPeer<ToFleetShard, FromFleetShard>;
type Client = ForkedPeer<ToStreamClient, FromStreamClient>;

export interface FleetStepOptions {
  transport: FleetTransport;
  /** Hub processes (1 over WebSocket). */
  hubs: number;
  agents: number;
  /** Most agents one shard process holds (its open files). */
  agentsPerShard: number;
  /** Length of the measured window. */
  seconds: number;
  /** Pause between "all subscribed" and the window (random start phases, first demand). */
  settleSeconds: number;
  progress: (line: string) => void;
}

/** CPU over the window and memory at its end, of one process. */
export interface ProcessFigures {
  cpuPercent: number;
  rssBytes: number;
  rssAnonBytes: number;
}

export interface FleetStepResult {
  transport: FleetTransport;
  agents: number;
  shards: number;
  /** Why the step could not be measured (agents not online, a process died), or null. */
  failure: string | null;
  windowSeconds: number;
  /** From the first agent started to the last one online. */
  connectSeconds: number;
  /** Each hub's. */
  hubs: ProcessFigures[];
  /** Every hub together, in % of one core. */
  hubCpuPercent: number;
  /** The largest hub's memory. */
  hubRssBytes: number;
  hubRssAnonBytes: number;
  /** mosquitto's, over MQTT (with its open files: one per agent and hub), null over WebSocket. */
  broker: (ProcessFigures & { openFiles: number; fileLimit: number }) | null;
  /** Every shard together, in % of one core. */
  fleetCpuPercent: number;
  /** The worst shard's. */
  fleetLoopDelayP99Ms: number;
  /** Every stream client together. */
  clientCpuPercent: number;
  /**
   * Samples due in the window, agents × streams × seconds at 1 Hz: approximate, since a sample
   * is stamped when taken, and a loop late at the window's start and on time at its end
   * stamps a few more inside it.
   */
  expectedSamples: number;
  /** Samples of the window the agents wrote to their links. */
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
  const shares = split(
    devices.map((d) => d.id),
    options.hubs,
  );
  const result = emptyResult(options, groups.length);
  let servers: FleetServers | null = null;
  const clients: Client[] = [];
  const shards: Shard[] = [];
  const scratchDirs: string[] = [];
  try {
    servers = await startFleetServers({
      transport: options.transport,
      hubs: options.hubs,
      devices,
      apiKey: API_KEY,
      maxSubscriptionsPerClient: Math.max(...shares.map((share) => share.length)),
    });

    const connectStarted = performance.now();
    for (const [i, group] of groups.entries()) {
      const shard: Shard = new ForkedPeer(`fleet shard ${i + 1}`, SHARD_SCRIPT);
      shards.push(shard);
      const scratchDir = mkdtempSync(join(SCRATCH_PARENT, 'iottly-fleet-'));
      scratchDirs.push(scratchDir);
      const start = {
        deviceUrl: servers.deviceUrl,
        devices: group,
        streams: FLEET_STREAMS,
        intervalMs: SAMPLE_INTERVAL_MS,
        scratchDir,
      };
      const timeoutMs = Math.ceil(group.length / 100 + 1) * START_TIMEOUT_PER_100_MS;
      await shard.ask({ kind: 'start', settings: start }, 'online', timeoutMs);
    }
    result.connectSeconds = (performance.now() - connectStarted) / 1000;
    progress(
      `${agents} agents online in ${result.connectSeconds.toFixed(1)} s (${shards.length} shard process${shards.length > 1 ? 'es' : ''}); subscribing`,
    );
    await servers.allKnown(KNOWN_TIMEOUT_MS);
    const hubs = servers.hubs;
    for (const i of hubs.keys()) {
      const client: Client = new ForkedPeer(`stream client ${i + 1}`, CLIENT_SCRIPT);
      clients.push(client);
    }
    await Promise.all(
      clients.map((client, i) => {
        const settings = {
          wsUrl: hubs[i]?.wsUrl ?? '',
          apiKey: API_KEY,
          deviceIds: shares[i] ?? [],
          streams: FLEET_STREAMS,
        };
        return client.ask({ kind: 'subscribe', settings }, 'ready', SUBSCRIBE_TIMEOUT_MS);
      }),
    );
    progress(
      `${clients.length} stream client${clients.length > 1 ? 's' : ''} subscribed; settling`,
    );
    await sleep(options.settleSeconds * 1000);

    // Announced ahead of its start, so that a shard whose loop lags still hears of the window
    // before its first sample is taken.
    const startMs = Date.now() + WINDOW_NOTICE_MS;
    const window: SampleWindow = { startMs, endMs: startMs + options.seconds * 1000 };
    for (const peer of [...shards, ...clients]) peer.send({ kind: 'window', window });
    await sleep(startMs - Date.now());
    const hubPids = hubs.map((hub) => hub.pid);
    const clientPids = clients.map((client) => client.pid);
    const shardPids = shards.map((shard) => shard.pid);
    const brokerPids = servers.broker ? [servers.broker.pid] : [];
    const cpu = measureCpu([...hubPids, ...clientPids, ...shardPids, ...brokerPids]);
    await sleep(window.endMs - Date.now());
    const percent = cpu.stop();
    const sum = (pids: number[]): number => pids.reduce((s, pid) => s + (percent.get(pid) ?? 0), 0);
    result.hubs = hubPids.map((pid) => ({ cpuPercent: sum([pid]), ...memoryFigures(pid) }));
    result.hubCpuPercent = sum(hubPids);
    result.hubRssBytes = Math.max(...result.hubs.map((h) => h.rssBytes));
    result.hubRssAnonBytes = Math.max(...result.hubs.map((h) => h.rssAnonBytes));
    result.clientCpuPercent = sum(clientPids);
    result.fleetCpuPercent = sum(shardPids);
    if (servers.broker) {
      const { pid, fileLimit } = servers.broker;
      result.broker = {
        cpuPercent: sum([pid]),
        ...memoryFigures(pid),
        openFiles: openFdCount(pid),
        fileLimit,
      };
    }

    // Sent, then received, then sent again: a sample a saturated shard writes after it first
    // answered is still counted, and counted lost if the client never sees it.
    const sentSoFar = await sentByShards(shards, window.endMs, SEND_GRACE_MS);
    const figures = await Promise.all(
      clients.map(async (client, i) => {
        const expected = (shares[i] ?? []).reduce(
          (s, id) => s + (sentSoFar.byDevice.get(id) ?? 0),
          0,
        );
        const collect = { kind: 'collect', expected, graceMs: ARRIVAL_GRACE_MS } as const;
        return (await client.ask(collect, 'figures', ARRIVAL_GRACE_MS + 5_000)).figures;
      }),
    );
    const sent = await sentByShards(shards, window.endMs, 0);
    Object.assign(result, {
      sent: sent.sent,
      linkDrops: sent.linkDrops,
      fleetLoopDelayP99Ms: sent.fleetLoopDelayP99Ms,
      ...deliveryFigures(figures, sent.sent, options.seconds),
    });
    const exited = hubs.findIndex((hub) => hub.child.exitCode !== null);
    if (exited >= 0) result.failure = `hub ${exited + 1} exited (${hubs[exited]?.child.exitCode})`;
  } catch (err) {
    result.failure = (err as Error).message;
  } finally {
    await Promise.all(shards.map((shard) => shard.stop()));
    // Removed here, once the shards have exited (also those killed at their stop's grace).
    for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
    await Promise.all(clients.map((client) => client.stop()));
    await servers?.stop();
  }
  return result;
}

/** `items` in `parts` runs of near-equal length. */
function split<T>(items: readonly T[], parts: number): T[][] {
  const size = Math.ceil(items.length / parts);
  return Array.from({ length: parts }, (_, i) => items.slice(i * size, (i + 1) * size));
}

function emptyResult(options: FleetStepOptions, shards: number): FleetStepResult {
  const { agents, seconds } = options;
  return {
    transport: options.transport,
    agents,
    shards,
    failure: null,
    windowSeconds: seconds,
    connectSeconds: 0,
    hubs: [],
    hubCpuPercent: 0,
    hubRssBytes: 0,
    hubRssAnonBytes: 0,
    broker: null,
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

/** CPU of each of `pids` from now on, in % of one core once stopped. */
function measureCpu(pids: number[]): { stop(): Map<number, number> } {
  const started = performance.now();
  const before = new Map(pids.map((pid) => [pid, cpuNanos(pid)]));
  return {
    stop() {
      const elapsedNs = (performance.now() - started) * 1e6;
      return new Map(
        pids.map((pid) => [pid, ((cpuNanos(pid) - (before.get(pid) ?? 0)) / elapsedNs) * 100]),
      );
    },
  };
}

function memoryFigures(pid: number): Omit<ProcessFigures, 'cpuPercent'> {
  const memory = memoryOf(pid);
  return { rssBytes: memory.rssBytes, rssAnonBytes: memory.rssAnonBytes };
}

interface SentFigures {
  sent: number;
  byDevice: Map<string, number>;
  linkDrops: number;
  fleetLoopDelayP99Ms: number;
}

/** What the shards' agents sent of the window, once their streams are past it or `graceMs`. */
async function sentByShards(shards: Shard[], endMs: number, graceMs: number): Promise<SentFigures> {
  const collect = { kind: 'collect', endMs, graceMs } as const;
  const figures: ShardFigures[] = await Promise.all(
    shards.map(async (shard) => (await shard.ask(collect, 'sent', graceMs + 5_000)).figures),
  );
  return {
    sent: figures.reduce((sum, s) => sum + s.sent, 0),
    byDevice: new Map(figures.flatMap((s) => s.sentByDevice)),
    linkDrops: figures.reduce((sum, s) => sum + s.linkDrops, 0),
    fleetLoopDelayP99Ms: Math.max(...figures.map((s) => s.loopDelayP99Ms)),
  };
}

/** The clients' figures as one: their counts added, their delays merged. */
function deliveryFigures(
  figures: DeliveryFigures[],
  sent: number,
  seconds: number,
): Partial<FleetStepResult> {
  const delays = new DelayHistogram();
  for (const f of figures) delays.merge(f.delays);
  const received = figures.reduce((sum, f) => sum + f.received, 0);
  return {
    received,
    lost: Math.max(0, sent - received),
    duplicates: figures.reduce((sum, f) => sum + f.duplicates, 0),
    framesPerSecond: received / seconds,
    delayP50Ms: delays.percentile(50),
    delayP99Ms: delays.percentile(99),
    delayMaxMs: delays.max(),
  };
}
