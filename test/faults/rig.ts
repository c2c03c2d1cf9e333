import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnAgent, statusIs, type AgentProcess, type LogLine } from '../helpers/agent-process.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import type { Owner } from '../helpers/owner.js';
import { API_KEY, Collector, DEVICE } from './collector.js';
import { FaultAgents, TOKEN, type FaultAgentOptions } from './fault-agents.js';

/**
 * One fault scenario's world, all real processes on loopback:
 *
 *     `iottly-agent run` ──▶ FaultProxy ──▶ `iottly-agent hub` (process, --state-dir)
 *                                                └──▶ Collector (a /v1/stream client)
 *
 * The agent samples cpu at 20 Hz; the collector subscribes to it and runs a command that
 * streams numbered lines, recording every relayed `seq` and the output. A scenario injects its
 * fault, heals it, waits until telemetry made a second after the heal arrives (the backlog is
 * through), and checks that every seq came, in order, once, and the output byte for byte.
 * Everything it started is stopped when its owner (the test) ends.
 */
export type RigOptions = FaultAgentOptions;

export class Rig {
  readonly stateDir = mkdtempSync(join(tmpdir(), 'fault-hub-'));
  readonly collector = new Collector();
  readonly hubs: AgentProcess[] = [];
  readonly #agents: FaultAgents;
  hubPort = 0;
  proxy!: FaultProxy;
  readonly #owner: Owner;

  constructor(owner: Owner, options: RigOptions = {}) {
    this.#owner = owner;
    // Registered first, so it runs first: SIGKILL, where each process's own stop would
    // wait for a graceful shutdown that a fault scenario does not need.
    owner.after(() => this.stop());
    this.#agents = new FaultAgents(owner, options);
  }

  get storageDir(): string {
    return this.#agents.storageDir;
  }

  get agent(): AgentProcess {
    return this.#agents.latest;
  }

  get hub(): AgentProcess {
    return this.hubs.at(-1) as AgentProcess;
  }

  /** Hub, proxy, subscribed collector, then the agent; resolves once telemetry flows. */
  async start(): Promise<void> {
    await this.startHub();
    this.proxy = await FaultProxy.start(this.#owner, this.hubPort);
    await this.collector.connect(this.hubPort);
    this.startAgent();
    await this.collector.count(10);
  }

  async startHub(): Promise<void> {
    const hub = spawnAgent(this.#owner, [
      'hub',
      '--port',
      String(this.hubPort),
      '--api-key',
      API_KEY,
      '--device-token',
      `${DEVICE}=${TOKEN}`,
      '--state-dir',
      this.stateDir,
      '--ping-interval-ms',
      '1000',
      '--pong-timeout-ms',
      '1000',
      '--log-level',
      'info',
    ]);
    this.hubs.push(hub);
    const line = await hub.waitForLog((l) => l.msg === 'hub listening', 10_000);
    this.hubPort = Number(new URL(String(line.url)).port);
  }

  startAgent(extraEnv: Record<string, string> = {}): AgentProcess {
    return this.#agents.start(`ws://127.0.0.1:${this.proxy.port}/v1/device`, extraEnv);
  }

  /**
   * After the agent was killed: the link reset (the killed run's connection gone), a new agent
   * started through the passing proxy; resolves once it is online and telemetry made a second
   * after that has come, so everything the killed run left is in by then.
   */
  async restartAgent(): Promise<AgentProcess> {
    this.proxy.setMode('reset');
    this.proxy.setMode('pass');
    const restarted = this.startAgent();
    await restarted.waitForLog(statusIs('online'), 10_000);
    await this.collector.madeAfter(Date.now() + 1_000);
    return restarted;
  }

  /** Restarts the hub on its port while the proxy refuses the agent, so the collector is back first. */
  async restartHub(kill: () => Promise<unknown>, outageMs = 0): Promise<void> {
    await kill();
    this.proxy.setMode('reset');
    if (outageMs > 0) await sleep(outageMs);
    await this.startHub();
    await this.collector.connect(this.hubPort);
    this.proxy.setMode('pass');
  }

  /** Counts the agent's `online` log lines (reconnects). */
  onlineCount(): number {
    return this.#agents.onlineCount();
  }

  agentLogs(predicate: (line: LogLine) => boolean): LogLine[] {
    return this.#agents.logs(predicate);
  }

  hubLogs(predicate: (line: LogLine) => boolean): LogLine[] {
    return this.hubs.flatMap((h) => h.logs.filter(predicate));
  }

  segments(lane = 'telemetry'): string[] {
    return this.#agents.segments(lane);
  }

  /** Idempotent; registered with the owner. */
  async stop(): Promise<void> {
    this.collector.close();
    await this.#agents.kill();
    for (const hub of this.hubs) await hub.kill('SIGKILL');
    await this.proxy?.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
