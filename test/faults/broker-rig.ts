import { setTimeout as sleep } from 'node:timers/promises';
import type { DeviceSummary } from '../../src/protocol/device-summary.js';
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import type { Owner } from '../helpers/owner.js';
import { API_KEY, Collector, DEVICE } from './collector.js';
import { FaultAgents, type FaultAgentOptions } from './fault-agents.js';
import { FleetWatch } from './fleet-watch.js';

/**
 * One broker fault scenario's world, all real processes on loopback:
 *
 *     `iottly-agent run` ──▶ FaultProxy ──▶ mosquitto ◀── FaultProxy ◀── hub A (--broker)
 *       (server.url mqtt://)                (persistence) ◀── FaultProxy ◀── hub B (--broker)
 *                                              ▲                                └──▶ Collector
 *                                          FleetWatch
 *
 * Hub A is the hub that owns the device (rendezvous hashing, docs/protocol.md "The hubs"), so
 * killing it moves the device to hub B; the collector is on hub B, subscribed to cpu at 20 Hz,
 * and runs a command that streams numbered lines (collector.ts). A scenario injects its fault,
 * heals it, waits until telemetry made a second after the heal arrives, and checks that every
 * seq since the subscription came, in order, once, and the output byte for byte. Everything it
 * started is stopped when its owner (the test) ends.
 */
export interface BrokerHub {
  process: AgentProcess;
  port: number;
  /** Between this hub and the broker: a scenario may cut the hub's own link. */
  proxy: FaultProxy;
  /** Its instance id on the broker (`iottly/v1/hubs/{id}`). */
  id: string;
}

const LISTED_TIMEOUT_MS = 20_000;

export class BrokerRig {
  readonly agents: FaultAgents;
  readonly collectors: Collector[] = [];
  readonly hubs: BrokerHub[] = [];
  broker!: Mosquitto;
  proxy!: FaultProxy;
  watch!: FleetWatch;
  readonly #owner: Owner;

  constructor(owner: Owner, options: FaultAgentOptions = {}) {
    this.#owner = owner;
    // Registered first, so it runs first: SIGKILL, where each process's own stop would
    // wait for a graceful shutdown that a fault scenario does not need.
    owner.after(() => this.stop());
    this.agents = new FaultAgents(owner, options);
  }

  /** The collector on hub B, connected by start(). */
  get collector(): Collector {
    return this.collectors[0] as Collector;
  }

  get agent(): AgentProcess {
    return this.agents.latest;
  }

  /** The device's owner. */
  get hubA(): BrokerHub {
    return this.hubs[0] as BrokerHub;
  }

  get hubB(): BrokerHub {
    return this.hubs[1] as BrokerHub;
  }

  /**
   * Broker, two hubs, proxy, the agent, then the collector on hub B once hub B lists the
   * device; resolves once telemetry flows.
   */
  async start(): Promise<void> {
    this.broker = await startMosquitto(this.#owner);
    this.watch = await FleetWatch.start(this.#owner, this.broker.url);
    // One at a time: each hub's id is the one that appears on the broker after it starts.
    for (let i = 0; i < 2; i++) this.hubs.push(await this.#startHub());
    const owner = this.watch.ownerOf(DEVICE);
    this.hubs.sort((a, b) => Number(b.id === owner) - Number(a.id === owner));
    this.proxy = await FaultProxy.start(this.#owner, this.broker.port);
    this.startAgent();
    await this.listed(this.hubB, true);
    const collector = await this.connectCollector(this.hubB);
    await collector.count(10);
  }

  startAgent(extraEnv: Record<string, string> = {}): AgentProcess {
    return this.agents.start(`mqtt://127.0.0.1:${this.proxy.port}`, extraEnv);
  }

  /** A new collector on `hub`, subscribed (the first one is `collector`). */
  async connectCollector(hub: BrokerHub): Promise<Collector> {
    const collector = new Collector();
    this.collectors.push(collector);
    await collector.connect(hub.port);
    return collector;
  }

  /** What `GET /v1/devices` on `hub` says of the device (undefined: not listed). */
  async deviceOn(hub: BrokerHub): Promise<DeviceSummary | undefined> {
    const response = await fetch(`http://127.0.0.1:${hub.port}/v1/devices`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    const devices = (await response.json()) as DeviceSummary[];
    return devices.find((d) => d.device_id === DEVICE);
  }

  /** Resolves once `hub` lists the device as `connected`: the hubs' view of its presence. */
  async listed(hub: BrokerHub, connected: boolean): Promise<void> {
    const deadline = Date.now() + LISTED_TIMEOUT_MS;
    while ((await this.deviceOn(hub))?.connected !== connected) {
      if (Date.now() > deadline)
        throw new Error(`hub on ${hub.port} never listed ${DEVICE} connected: ${connected}`);
      await sleep(100);
    }
  }

  /** Idempotent; registered with the owner. */
  async stop(): Promise<void> {
    for (const collector of this.collectors) collector.close();
    await this.agents.kill();
    for (const hub of this.hubs) await hub.process.kill('SIGKILL');
    await this.proxy?.close();
    for (const hub of this.hubs) await hub.proxy.close();
  }

  async #startHub(): Promise<BrokerHub> {
    const known = new Set(this.watch.hubs);
    const proxy = await FaultProxy.start(this.#owner, this.broker.port);
    const hub = spawnAgent(this.#owner, [
      'hub',
      '--port',
      '0',
      '--api-key',
      API_KEY,
      '--broker',
      `mqtt://127.0.0.1:${proxy.port}`,
      '--log-level',
      'info',
    ]);
    const line = await hub.waitForLog((l) => l.msg === 'hub listening', 10_000);
    await this.watch.until(
      () => [...this.watch.hubs].some((id) => !known.has(id)),
      10_000,
      'the new hub present on the broker',
    );
    const id = [...this.watch.hubs].find((id) => !known.has(id)) as string;
    return { process: hub, port: Number(new URL(String(line.url)).port), proxy, id };
  }
}

/** Every seq from the first this collector received (it subscribed after the device came). */
export function assertDelivered(collector: Collector): void {
  collector.assertComplete(new Set(), collector.received[0]?.seq ?? 1);
}

/**
 * The fault is healed: once telemetry made a second later has come (the backlog is through)
 * and the command is done, every seq came once, in order, and the output byte for byte.
 */
export async function assertWholeAfterHeal(collector: Collector, lines: number): Promise<void> {
  const healed = Date.now();
  await collector.madeAfter(healed + 1_000);
  await collector.commandDone();
  assertDelivered(collector);
  collector.assertOutput(lines);
}
