import assert from 'node:assert/strict';
import { chownSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  CLI_PATH,
  spawnAgent,
  spawnAgentCommand,
  statusIs,
  type AgentProcess,
  type LogLine,
} from '../helpers/agent-process.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import type { Owner } from '../helpers/owner.js';

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
const API_KEY = 'K';
const DEVICE = 'dev1';
const TOKEN = 'T-fault-token';
export const TELEMETRY_INTERVAL_MS = 50;

export interface Received {
  seq: number;
  type: string;
  /** Device time of a telemetry frame (ms), 0 for command replies. */
  tsMs: number;
}

/** `lines` numbered lines of 60 bytes and a newline: what the test command prints. */
export function numberedLines(lines: number): string {
  let text = '';
  for (let i = 1; i <= lines; i++) text += `line ${String(i).padStart(5, '0')} ${'x'.repeat(48)}\n`;
  return text;
}

function numberedLinesScript(lines: number, gapS: number): string {
  return `i=1; while [ $i -le ${lines} ]; do printf 'line %05d %s\\n' $i ${'x'.repeat(48)}; i=$((i+1)); sleep ${gapS}; done`;
}

/** A stream client: subscribed to cpu, and the issuer of one streaming command at a time. */
export class Collector {
  readonly received: Received[] = [];
  output = '';
  done: Record<string, unknown> | null = null;
  errors: Array<Record<string, unknown>> = [];
  #ws: WebSocket | null = null;
  readonly #waiters = new Set<() => void>();

  async connect(port: number): Promise<void> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?api_key=${API_KEY}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const subscribed = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as Record<string, unknown> & {
          payload: Record<string, unknown>;
        };
        if (frame.type === 'subscribed') resolve();
        if (typeof frame.seq === 'number') {
          const tsMs = frame.type === 'telemetry' ? Date.parse(String(frame.payload.ts)) : 0;
          this.received.push({ seq: frame.seq, type: String(frame.type), tsMs });
        }
        if (frame.type === 'command_output') this.output += String(frame.payload.chunk);
        if (frame.type === 'command_done') this.done = frame.payload;
        if (frame.type === 'error')
          this.errors.push({ ...frame.payload, request_id: frame.request_id });
        for (const waiter of this.#waiters) waiter();
      });
    });
    ws.on('error', () => {});
    ws.send(
      JSON.stringify({
        type: 'subscribe',
        request_id: 'sub',
        payload: { device_id: DEVICE, streams: ['cpu'], interval_ms: TELEMETRY_INTERVAL_MS },
      }),
    );
    await subscribed;
    this.#ws = ws;
  }

  /** Resolves once `check()` holds after some frame (or already). */
  async until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`${what}: not within ${timeoutMs} ms (last seq ${this.lastSeq()})`));
      }, timeoutMs);
      const waiter = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve();
      };
      this.#waiters.add(waiter);
    });
  }

  /**
   * Starts a command printing `lines` numbered lines, one every `gapS` s (see numberedLines);
   * returns its request_id.
   */
  runCommand(lines: number, gapS = 0.02): string {
    this.output = '';
    this.done = null;
    const requestId = `cmd-${this.received.length}`;
    this.#ws?.send(
      JSON.stringify({
        type: 'command',
        request_id: requestId,
        payload: {
          device_id: DEVICE,
          argv: ['sh', '-c', numberedLinesScript(lines, gapS)],
          stream_output: true,
        },
      }),
    );
    return requestId;
  }

  commandDone(timeoutMs = 20_000): Promise<void> {
    return this.until(
      () => this.done !== null,
      timeoutMs,
      `command_done (output ${this.output.length} bytes, errors ${JSON.stringify(this.errors)})`,
    );
  }

  /** Resolves with the next telemetry frame: the device is online and relaying. */
  nextTelemetry(timeoutMs = 10_000): Promise<void> {
    const seen = this.received.length;
    return this.until(
      () => this.received.slice(seen).some((r) => r.type === 'telemetry'),
      timeoutMs,
      'telemetry from the device',
    );
  }

  /** Waits for telemetry made at or after `ms` (device clock): everything older has come by then. */
  madeAfter(ms: number, timeoutMs = 20_000): Promise<void> {
    return this.until(
      () => this.received.some((r) => r.tsMs >= ms),
      timeoutMs,
      `a message made after ${new Date(ms).toISOString()}`,
    );
  }

  count(n: number, timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.received.length >= n, timeoutMs, `${n} messages`);
  }

  /** Output of the command so far, as an exact copy of what it printed (or a prefix of it). */
  assertOutput(lines: number, { complete = true } = {}): void {
    const expected = numberedLines(lines);
    if (complete) {
      assert.equal(this.output.length, expected.length, 'output length');
      assert.ok(this.output === expected, 'output byte for byte');
    } else {
      assert.ok(expected.startsWith(this.output), 'output is an exact prefix of what was printed');
    }
  }

  lastSeq(): number {
    return this.received.at(-1)?.seq ?? 0;
  }

  /**
   * Every seq from 1 to the last, in order, exactly once (telemetry and command replies
   * together); `missing` are seqs that may not arrive (reported drops, the drop report).
   */
  assertComplete(missing: ReadonlySet<number> = new Set()): void {
    const seqs = this.received.map((r) => r.seq);
    assert.ok(seqs.length > 0, 'nothing received');
    const problems: string[] = [];
    let expected = 1;
    for (const seq of seqs) {
      while (missing.has(expected)) expected++;
      if (seq !== expected) problems.push(`expected seq ${expected}, got ${seq}`);
      expected = Math.max(expected, seq) + 1;
    }
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} ordering problems`);
  }

  close(): void {
    this.#ws?.terminate();
  }
}

export interface RigOptions {
  agentEnv?: Record<string, string>;
  /** Run the agent as this uid/gid (the read-only scenario: root ignores file modes). */
  agentUser?: { uid: number; gid: number };
}

export class Rig {
  readonly stateDir = mkdtempSync(join(tmpdir(), 'fault-hub-'));
  readonly storageDir = mkdtempSync(join(tmpdir(), 'fault-spool-'));
  readonly collector = new Collector();
  readonly agents: AgentProcess[] = [];
  readonly hubs: AgentProcess[] = [];
  hubPort = 0;
  proxy!: FaultProxy;
  readonly #owner: Owner;
  readonly #options: RigOptions;

  constructor(owner: Owner, options: RigOptions = {}) {
    this.#owner = owner;
    this.#options = options;
    // Registered first, so it runs first: SIGKILL, where each process's own stop would
    // wait for a graceful shutdown that a fault scenario does not need.
    owner.after(() => this.stop());
    if (options.agentUser) chownSync(this.storageDir, options.agentUser.uid, options.agentUser.gid);
  }

  get agent(): AgentProcess {
    return this.agents.at(-1) as AgentProcess;
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
    const agent = spawnAgentCommand(
      this.#owner,
      process.execPath,
      [CLI_PATH, 'run'],
      {
        IOTTLY_SERVER_URL: `ws://127.0.0.1:${this.proxy.port}/v1/device`,
        IOTTLY_DEVICE_ID: DEVICE,
        IOTTLY_AUTH_TOKEN: TOKEN,
        IOTTLY_STORAGE_DIR: this.storageDir,
        IOTTLY_STORAGE_RETRY_INTERVAL_MS: '300',
        IOTTLY_HEARTBEAT_INTERVAL_MS: '500',
        IOTTLY_HEARTBEAT_TIMEOUT_MS: '1000',
        IOTTLY_RECONNECT_INITIAL_DELAY_MS: '200',
        IOTTLY_RECONNECT_MAX_DELAY_MS: '800',
        IOTTLY_RECONNECT_DIAL_TIMEOUT_MS: '1500',
        IOTTLY_TELEMETRY_STREAMS: 'cpu',
        IOTTLY_TELEMETRY_INTERVAL_MS: String(TELEMETRY_INTERVAL_MS),
        IOTTLY_TELEMETRY_MIN_INTERVAL_MS: String(TELEMETRY_INTERVAL_MS),
        IOTTLY_TELEMETRY_RANDOM_START: 'false',
        IOTTLY_LOG_LEVEL: 'info',
        IOTTLY_LOCAL_ENABLED: 'false', // no app socket: nothing here uses it
        ...this.#options.agentEnv,
        ...extraEnv,
      },
      this.#options.agentUser,
    );
    this.agents.push(agent);
    return agent;
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
    return this.agents.reduce((n, a) => n + a.logs.filter(statusIs('online')).length, 0);
  }

  agentLogs(predicate: (line: LogLine) => boolean): LogLine[] {
    return this.agents.flatMap((a) => a.logs.filter(predicate));
  }

  hubLogs(predicate: (line: LogLine) => boolean): LogLine[] {
    return this.hubs.flatMap((h) => h.logs.filter(predicate));
  }

  segments(lane = 'telemetry'): string[] {
    return readdirSync(this.storageDir)
      .filter((n) => n.startsWith(`${lane}-`) && n.endsWith('.seg'))
      .sort();
  }

  /** Idempotent; registered with the owner. */
  async stop(): Promise<void> {
    this.collector.close();
    for (const agent of this.agents) await agent.kill('SIGKILL');
    for (const hub of this.hubs) await hub.kill('SIGKILL');
    await this.proxy?.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
