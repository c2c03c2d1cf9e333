/**
 * What serves the fleet in a fleet run, each a process measured from /proc:
 *
 *   ws    one `iottly-agent hub`; the agents connect to its /v1/device, one socket per agent
 *   mqtt  a mosquitto (bench/lib/mosquitto-process.ts) and H `iottly-agent hub --broker`
 *         processes; the agents connect to the broker (one socket per agent there, none at the
 *         hubs), and every hub receives every agent's frames from it
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startHubProcess, type HubProcess } from '../lib/hub-process.js';
import { startMosquittoProcess, type MosquittoProcess } from '../lib/mosquitto-process.js';
import type { FleetDevice } from './simulated-fleet.js';

export type FleetTransport = 'ws' | 'mqtt';

export interface FleetServersOptions {
  transport: FleetTransport;
  /** Hub processes: 1 over WebSocket, any number on a broker. */
  hubs: number;
  devices: readonly FleetDevice[];
  apiKey: string;
  /** Each hub's limit per stream client (its default is 100). */
  maxSubscriptionsPerClient: number;
}

export interface FleetServers {
  /** Every agent's `server.url`: the hub's /v1/device, or the broker. */
  deviceUrl: string;
  hubs: HubProcess[];
  broker: MosquittoProcess | null;
  /**
   * Resolves once every hub lists every device as connected (`GET /v1/devices`): a hub refuses
   * a subscription to a device it does not know, and a hub on a broker learns the devices from
   * their presence messages, a moment after the agent that published one is online.
   */
  allKnown(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** Pause between two looks at a hub's device list. */
const KNOWN_POLL_MS = 500;

export async function startFleetServers(options: FleetServersOptions): Promise<FleetServers> {
  const { transport, apiKey } = options;
  if (transport === 'ws' && options.hubs !== 1)
    throw new RangeError(`a WebSocket fleet has one hub, got ${options.hubs}`);
  const limits = ['--max-subscriptions-per-client', String(options.maxSubscriptionsPerClient)];
  const broker = transport === 'mqtt' ? await startMosquittoProcess() : null;
  const hubs: HubProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(hubs.map((hub) => hub.stop()));
    await broker?.stop();
  };
  try {
    if (broker === null) {
      const tokens = new Map(options.devices.map((d) => [d.id, d.token]));
      hubs.push(await startHubProcess(tokens, apiKey, 'warn', limits));
    } else {
      // The broker accepts any client here: device credentials are its business, not the hubs'.
      for (let i = 0; i < options.hubs; i++)
        hubs.push(
          await startHubProcess(new Map(), apiKey, 'warn', ['--broker', broker.url, ...limits]),
        );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const deviceIds = options.devices.map((d) => d.id);
  return {
    deviceUrl: broker?.url ?? `${hubs[0]?.wsUrl}/v1/device`,
    hubs,
    broker,
    allKnown: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (const [i, hub] of hubs.entries()) {
        for (;;) {
          const unknown = await unknownDevices(hub, apiKey, deviceIds);
          if (unknown === 0) break;
          if (Date.now() > deadline)
            throw new Error(`hub ${i + 1} does not list ${unknown} devices as connected`);
          await sleep(KNOWN_POLL_MS);
        }
      }
    },
    stop,
  };
}

/** How many of `deviceIds` the hub does not list as connected. */
async function unknownDevices(hub: HubProcess, apiKey: string, deviceIds: readonly string[]) {
  const response = await fetch(`${hub.httpUrl}/v1/devices`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  if (!response.ok) throw new Error(`GET /v1/devices: ${response.status}`);
  const listed = (await response.json()) as { device_id: string; connected: boolean }[];
  const connected = new Set(listed.filter((d) => d.connected).map((d) => d.device_id));
  return deviceIds.filter((id) => !connected.has(id)).length;
}
