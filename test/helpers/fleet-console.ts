/// <reference lib="dom" />
// The callbacks given to page.evaluate run in the page.
import { connectAsync } from 'mqtt';
import type { Page } from 'playwright-core';
import { deviceTopic, type DevicePresence } from '../../src/protocol/mqtt-topics.js';
import { statusIs, type AgentProcess } from './agent-process.js';
import { spawnFleetHub, type FleetHubProcess } from './fleet-hub-process.js';
import { startMosquitto } from './mosquitto.js';
import { DEVICE, agentOn } from './mqtt-agent-rig.js';
import type { Owner } from './owner.js';
import { API_KEY } from './ws.js';

/**
 * A fleet for the console at full size, the cheapest real way: a mosquitto holding one retained
 * presence for each of `size - 1` devices (published here with MQTT.js, as each agent's own
 * presence would be), a real `iottly-agent hub --broker` that learns them all from the broker,
 * and one real agent over mqtt:// (device `dev1`) for the charts and the terminal. Used by
 * test/browser/fleet-list.test.ts and bench/console-fleet.ts.
 */
export const FLEET_SIZE = 10_000;
/** Every device the test publishes is `fleet-NNNNN`; the real agent is DEVICE (`dev1`). */
export const fleetDeviceId = (i: number): string => `fleet-${String(i).padStart(5, '0')}`;
/** One device in four is offline (its will), the rest online. */
export const isFleetDeviceOnline = (i: number): boolean => i % 4 !== 0;
/** Versions differ across the fleet, so a row shows its own device's. */
export const fleetDeviceVersion = (i: number): string => `0.9.${i % 7}`;
/** The most presences in flight at once while the fleet is published. */
const PUBLISH_WINDOW = 500;
const LEARN_TIMEOUT_MS = 120_000;

export interface FleetCounts {
  total: number;
  online: number;
  offline: number;
}

export interface ConsoleFleet {
  hub: FleetHubProcess;
  agent: AgentProcess;
  counts: FleetCounts;
}

function presence(i: number): DevicePresence {
  const deviceId = fleetDeviceId(i);
  return {
    online: isFleetDeviceOnline(i),
    since: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    hello: {
      device_id: deviceId,
      agent_version: fleetDeviceVersion(i),
      protocol: 1,
      hostname: `host-${i}`,
      os: 'Linux',
      arch: 'arm64',
      model: 'Raspberry Pi 4 Model B',
      capabilities: ['telemetry:cpu', 'telemetry:memory', 'commands'],
    },
  };
}

async function publishFleet(brokerUrl: string, devices: number): Promise<void> {
  const client = await connectAsync(brokerUrl, {
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
  });
  try {
    for (let from = 1; from <= devices; from += PUBLISH_WINDOW) {
      const batch: Promise<unknown>[] = [];
      for (let i = from; i < Math.min(from + PUBLISH_WINDOW, devices + 1); i++)
        batch.push(
          client.publishAsync(
            deviceTopic(fleetDeviceId(i), 'presence'),
            JSON.stringify(presence(i)),
            { qos: 1, retain: true },
          ),
        );
      await Promise.all(batch);
    }
  } finally {
    await client.endAsync();
  }
}

/** What `GET /v1/devices` lists, as far as the counts go. */
async function listedCounts(hubUrl: string): Promise<FleetCounts & { agentOnline: boolean }> {
  const res = await fetch(`${hubUrl}/v1/devices`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
  });
  const devices = (await res.json()) as { device_id: string; connected: boolean }[];
  const online = devices.filter((d) => d.connected).length;
  return {
    total: devices.length,
    online,
    offline: devices.length - online,
    agentOnline: devices.some((d) => d.device_id === DEVICE && d.connected),
  };
}

/** Starts the broker, the fleet, the hub and the agent; resolves once the hub lists them all. */
export async function startConsoleFleet(owner: Owner, size = FLEET_SIZE): Promise<ConsoleFleet> {
  const broker = await startMosquitto(owner);
  const published = size - 1;
  await publishFleet(broker.url, published);
  // The agent starts beside the hub (its start-up overlaps the hub's); it says hello again
  // until the hub, which reads every retained presence before it owns any device, welcomes it.
  const agent = agentOn(owner, broker.url, {
    IOTTLY_TELEMETRY_STREAMS: '',
    IOTTLY_LOG_LEVEL: 'info',
  });
  const hub = await spawnFleetHub(owner, broker.url, [], LEARN_TIMEOUT_MS);
  await agent.waitForLog(statusIs('online'), LEARN_TIMEOUT_MS);
  let onlinePublished = 0;
  for (let i = 1; i <= published; i++) if (isFleetDeviceOnline(i)) onlinePublished++;
  const counts = {
    total: size,
    online: onlinePublished + 1,
    offline: published - onlinePublished,
  };
  const deadline = Date.now() + LEARN_TIMEOUT_MS;
  for (;;) {
    const listed = await listedCounts(hub.url);
    if (listed.agentOnline && listed.total === counts.total && listed.online === counts.online)
      return { hub, agent, counts };
    if (Date.now() > deadline)
      throw new Error(`the hub lists ${JSON.stringify(listed)}, not ${JSON.stringify(counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts collecting the console's own timings (src/console/timing.ts: User Timing measures of
 * the script run for a list refresh and a search, each a synchronous piece of the page's work
 * timed with `performance.now()`). Call before the work to measure.
 */
export async function watchTimings(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: PerformanceEntry[] = [];
    const observer = new PerformanceObserver((list) => seen.push(...list.getEntries()));
    observer.observe({ type: 'measure' });
    (window as unknown as { consoleTimings: () => PerformanceEntry[] }).consoleTimings = () => {
      // What is recorded but not yet handed to the callback (that comes in a later task).
      seen.push(...observer.takeRecords());
      return seen;
    };
  });
}

/** The durations (ms) recorded under `name` since watchTimings, oldest first. */
export function timings(page: Page, name: string): Promise<number[]> {
  return page.evaluate(
    (n) =>
      (window as unknown as { consoleTimings: () => PerformanceEntry[] })
        .consoleTimings()
        .filter((entry) => entry.name === n)
        .map((entry) => entry.duration),
    name,
  );
}

/** Waits until `count` timings under `name` have been recorded since watchTimings. */
export async function timingsReach(
  page: Page,
  name: string,
  count: number,
  timeoutMs = 60_000,
): Promise<void> {
  await page.waitForFunction(
    ([n, c]) =>
      (window as unknown as { consoleTimings: () => PerformanceEntry[] })
        .consoleTimings()
        .filter((entry) => entry.name === n).length >= c,
    [name, count] as const,
    { timeout: timeoutMs },
  );
}

/**
 * Puts `query` in the device search as typing would: one input event from the keyboard (the
 * text inserted over the selected old one, or the old one deleted).
 */
export async function searchDevices(page: Page, query: string): Promise<void> {
  const search = page.locator('#device-search');
  await search.focus();
  await search.selectText();
  if (query === '') await page.keyboard.press('Delete');
  else await page.keyboard.insertText(query);
}
