/**
 * One fleet size, measured: `iottly-agent hub` as a process, N agents in this process, and a
 * stream client in a third subscribed to all their telemetry. After every agent is online and
 * a settling pause, a window of sample times is measured: hub CPU and memory from /proc, this
 * process's CPU and event-loop delay (the simulator's own load, which inflates the delay when
 * it saturates), and at the client the delay and count of every sample taken in the window.
 */
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { startHubProcess, type HubProcess } from '../lib/hub-process.js';
import { cpuNanos, memoryOf } from '../lib/proc-stats.js';
import type { DeliveryFigures } from './client-protocol.js';
import { SampleTally, type SampleWindow } from './sample-tally.js';
import { SimulatedFleet, type FleetDevice } from './simulated-fleet.js';
import { StreamClientProcess } from './stream-client-process.js';

export const FLEET_STREAMS = ['cpu', 'memory', 'temperature'];
export const SAMPLE_INTERVAL_MS = 1_000;
const API_KEY = `fleet-${randomBytes(9).toString('base64url')}`;
/** Longest wait, after the window, for its last samples to leave the agents. */
const SEND_GRACE_MS = 5_000;
/** Longest wait, after that, for them to reach the client. */
const ARRIVAL_GRACE_MS = 10_000;

export interface FleetStepOptions {
  agents: number;
  /** Length of the measured window. */
  seconds: number;
  /** Pause between "all online" and the window (random start phases, first demand). */
  settleSeconds: number;
  logger: Logger;
  progress: (line: string) => void;
}

export interface FleetStepResult {
  agents: number;
  /** Why the step could not be measured (agents not online, a process died), or null. */
  failure: string | null;
  windowSeconds: number;
  /** From the first agent started to the last one online. */
  connectSeconds: number;
  hubCpuPercent: number;
  hubRssBytes: number;
  hubRssAnonBytes: number;
  fleetCpuPercent: number;
  fleetLoopDelayP99Ms: number;
  clientCpuPercent: number;
  /** Samples the agents should take in the window: agents × streams × seconds at 1 Hz. */
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

export function fleetDevices(count: number): FleetDevice[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `fleet-${String(i + 1).padStart(5, '0')}`,
    token: `fleet-token-${i + 1}-${randomBytes(6).toString('hex')}`,
  }));
}

export async function runFleetStep(options: FleetStepOptions): Promise<FleetStepResult> {
  const { agents, progress } = options;
  const devices = fleetDevices(agents);
  const sent = new SampleTally();
  let hub: HubProcess | null = null;
  let client: StreamClientProcess | null = null;
  let fleet: SimulatedFleet | null = null;
  const result = emptyResult(agents, options.seconds);
  try {
    hub = await startHubProcess(new Map(devices.map((d) => [d.id, d.token])), API_KEY);
    client = new StreamClientProcess();
    await client.subscribe({
      wsUrl: hub.wsUrl,
      apiKey: API_KEY,
      deviceIds: devices.map((d) => d.id),
      streams: FLEET_STREAMS,
    });
    fleet = new SimulatedFleet({
      deviceUrl: `${hub.wsUrl}/v1/device`,
      devices,
      streams: FLEET_STREAMS,
      intervalMs: SAMPLE_INTERVAL_MS,
      onSampleSent: (deviceId, stream, tsMs) => sent.record(deviceId, stream, tsMs),
      logger: options.logger,
    });
    const connectStarted = performance.now();
    await fleet.start();
    result.connectSeconds = (performance.now() - connectStarted) / 1000;
    progress(`${agents} agents online in ${result.connectSeconds.toFixed(1)} s; settling`);
    await sleep(options.settleSeconds * 1000);

    const startMs = Date.now();
    const window: SampleWindow = { startMs, endMs: startMs + options.seconds * 1000 };
    sent.setWindow(window);
    client.startWindow(window);
    const usage = measureUsage(hub.pid, client.pid);
    await sleep(window.endMs - Date.now());
    Object.assign(result, usage.stop(), hubMemory(hub.pid));

    await lastSamplesSent(sent, window, agents * FLEET_STREAMS.length);
    const figures = await client.collect(sent.inWindow, ARRIVAL_GRACE_MS);
    Object.assign(result, deliveryFigures(figures, sent.inWindow, options.seconds));
    result.linkDrops = fleet.linkDrops;
    if (hub.child.exitCode !== null) result.failure = `the hub exited (${hub.child.exitCode})`;
  } catch (err) {
    result.failure = (err as Error).message;
  } finally {
    await fleet?.stop();
    client?.stop();
    await hub?.stop();
  }
  return result;
}

function emptyResult(agents: number, seconds: number): FleetStepResult {
  return {
    agents,
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

/** CPU of the hub, the client and this process, and this event loop's delay, from now on. */
function measureUsage(
  hubPid: number,
  clientPid: number,
): {
  stop(): Pick<
    FleetStepResult,
    'hubCpuPercent' | 'clientCpuPercent' | 'fleetCpuPercent' | 'fleetLoopDelayP99Ms'
  >;
} {
  const started = performance.now();
  const hub0 = cpuNanos(hubPid);
  const client0 = cpuNanos(clientPid);
  const fleet0 = process.cpuUsage();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  return {
    stop() {
      const elapsedNs = (performance.now() - started) * 1e6;
      const fleetUsage = process.cpuUsage(fleet0);
      loop.disable();
      return {
        hubCpuPercent: ((cpuNanos(hubPid) - hub0) / elapsedNs) * 100,
        clientCpuPercent: ((cpuNanos(clientPid) - client0) / elapsedNs) * 100,
        fleetCpuPercent: (((fleetUsage.user + fleetUsage.system) * 1000) / elapsedNs) * 100,
        fleetLoopDelayP99Ms: loop.percentile(99) / 1e6,
      };
    },
  };
}

function hubMemory(pid: number): Pick<FleetStepResult, 'hubRssBytes' | 'hubRssAnonBytes'> {
  const memory = memoryOf(pid);
  return { hubRssBytes: memory.rssBytes, hubRssAnonBytes: memory.rssAnonBytes };
}

/** Waits until every stream has sent a sample past the window (so all of its own were sent). */
async function lastSamplesSent(tally: SampleTally, window: SampleWindow, streams: number) {
  const deadline = Date.now() + SEND_GRACE_MS;
  while (tally.streamsPast(window.endMs) < streams && Date.now() < deadline) await sleep(100);
}

function deliveryFigures(
  figures: DeliveryFigures,
  sent: number,
  seconds: number,
): Partial<FleetStepResult> {
  return {
    sent,
    received: figures.received,
    lost: Math.max(0, sent - figures.received),
    duplicates: figures.duplicates,
    framesPerSecond: figures.received / seconds,
    delayP50Ms: figures.delayP50Ms,
    delayP99Ms: figures.delayP99Ms,
    delayMaxMs: figures.delayMaxMs,
  };
}
