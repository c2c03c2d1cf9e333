/**
 * Real agents in one process (a fleet shard), sharing nothing but the event loop: each is built by
 * createAgent from its own validated config, with its own device id and token, its own spool
 * (a directory of its own; on tmpfs where there is one, fsync off: every real device writes to
 * its own SD card, and 1,000 simulated ones sharing one disk would measure that disk), and its
 * own sampler reading a fixture /proc and /sys tree of its own.
 *
 * What each agent writes to its link is observed through the injected factory of that link
 * (the WebSocket's `send`, or the MQTT client's `publish` on the device's `up` topic), so the
 * run knows exactly which samples left the agents and can tell a lost frame from one that was
 * never taken.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import type { Agent } from '../../src/agent/agent.js';
import type { SocketFactory } from '../../src/agent/connection.js';
import { createWebSocket } from '../../src/agent/web-socket.js';
import { createMqttClient, type MqttClientFactory } from '../../src/agent/mqtt-link.js';
import { deviceTopic } from '../../src/protocol/mqtt-topics.js';
import {
  createAgent,
  realAgentDependencies,
  type AgentDependencies,
} from '../../src/roots/agent-root.js';
import { basicInventory } from '../../src/agent/inventory.js';
import { loadConfig } from '../../src/config/load.js';
import { procFixture, writeDefaultStreamsTree } from '../../test/helpers/proc-fixture.js';

export interface FleetDevice {
  id: string;
  token: string;
}

export interface SimulatedFleetOptions {
  /** Every agent's `server.url`: ws://host:port/v1/device, or mqtt://host:port (a broker). */
  deviceUrl: string;
  devices: readonly FleetDevice[];
  /** Built-in streams each agent samples by config. */
  streams: readonly string[];
  intervalMs: number;
  /** Where the agents' spools and fixture trees go; its owner removes it (with them). */
  scratchDir: string;
  /** Hears every telemetry sample an agent writes to its link (resends included). */
  onSampleSent: (deviceId: string, stream: string, tsMs: number) => void;
  logger: Logger;
}

interface Member {
  device: FleetDevice;
  agent: Agent;
  online: Promise<void>;
}

/** Agents started at once; the next group starts when these are online. */
const START_GROUP = 100;
/** Longest wait for one group to come online. */
const ONLINE_TIMEOUT_MS = 30_000;

export class SimulatedFleet {
  readonly #o: SimulatedFleetOptions;
  readonly #members: Member[] = [];
  #linkDrops = 0;

  constructor(options: SimulatedFleetOptions) {
    this.#o = options;
  }

  /** Times an agent's link dropped after it had been online. */
  get linkDrops(): number {
    return this.#linkDrops;
  }

  /** Starts every agent, a group at a time; resolves when all are online, else rejects. */
  async start(): Promise<void> {
    const real = await realAgentDependencies(
      { logger: this.#o.logger, inventory: basicInventory() },
      this.#o.deviceUrl,
    );
    for (let first = 0; first < this.#o.devices.length; first += START_GROUP) {
      const members = this.#o.devices
        .slice(first, first + START_GROUP)
        .map((d) => this.#member(d, real));
      this.#members.push(...members);
      await Promise.all(members.map((member) => member.agent.start()));
      await this.#allOnline(members);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#members.map((member) => member.agent.stop()));
  }

  #member(device: FleetDevice, real: AgentDependencies): Member {
    const fixture = procFixture(this.#o.scratchDir);
    writeDefaultStreamsTree(fixture);
    const { config } = loadConfig({
      env: {},
      flags: {
        'server.url': this.#o.deviceUrl,
        'device.id': device.id,
        'auth.token': device.token,
        'storage.dir': join(this.#o.scratchDir, device.id),
        'storage.fsync': 'never',
        'local.enabled': 'false',
        'telemetry.streams': this.#o.streams.join(','),
        'telemetry.intervalMs': String(this.#o.intervalMs),
        'telemetry.procRoot': fixture.procRoot,
        'telemetry.sysRoot': fixture.sysRoot,
      },
      readFile: () => {
        throw Object.assign(new Error('no config file'), { code: 'ENOENT' });
      },
    });
    const agent = createAgent(
      config,
      { token: device.token, tls: {} },
      {
        ...real,
        logger: this.#o.logger.child({ deviceId: device.id }),
        inventory: { ...basicInventory(), hostname: device.id },
        createSocket: this.#observedSockets(device.id),
        createMqttClient: this.#observedMqttClients(device.id),
        env: {},
      },
    );
    let wasOnline = false;
    const online = new Promise<void>((resolve) => {
      agent.context.onStatus((status) => {
        if (status.kind === 'online') {
          wasOnline = true;
          resolve();
        } else if (wasOnline && status.kind !== 'stopping' && status.kind !== 'stopped') {
          wasOnline = false;
          this.#linkDrops++;
        }
      });
    });
    return { device, agent, online };
  }

  async #allOnline(members: Member[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const offline = members.filter((m) => m.agent.status.kind !== 'online').length;
        reject(
          new Error(`${offline} of ${members.length} agents not online in ${ONLINE_TIMEOUT_MS} ms`),
        );
      }, ONLINE_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all(members.map((m) => m.online)), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The real socket factory, with every telemetry frame the agent sends told to the run. */
  #observedSockets(deviceId: string): SocketFactory {
    return (url, options) => {
      const socket = createWebSocket(url, options);
      const send = socket.send.bind(socket) as (...args: unknown[]) => void;
      socket.send = ((data: unknown, ...rest: unknown[]) => {
        this.#observe(deviceId, data);
        send(data, ...rest);
      }) as WebSocket['send'];
      return socket;
    };
  }

  /** The real MQTT client factory, with every telemetry frame published on `up` told to the run. */
  #observedMqttClients(deviceId: string): MqttClientFactory {
    const up = deviceTopic(deviceId, 'up');
    return async (url, options) => {
      const client = await createMqttClient(url, options);
      const publish = client.publish.bind(client);
      client.publish = (topic, message, ...rest) => {
        if (topic === up) this.#observe(deviceId, message);
        publish(topic, message, ...rest);
      };
      return client;
    };
  }

  /** Tells the run of a telemetry sample in a frame an agent writes. */
  #observe(deviceId: string, data: unknown): void {
    if (typeof data === 'string' && data.includes('"type":"telemetry"')) {
      const { payload } = JSON.parse(data) as { payload: { stream: string; ts: string } };
      this.#o.onSampleSent(deviceId, payload.stream, Date.parse(payload.ts));
    }
  }
}
