import { chownSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CLI_PATH,
  spawnAgentCommand,
  statusIs,
  type AgentProcess,
  type LogLine,
} from '../helpers/agent-process.js';
import type { Owner } from '../helpers/owner.js';
import { DEVICE, TELEMETRY_INTERVAL_MS } from './collector.js';

/**
 * The device of the fault scenarios: `iottly-agent run` as a process sampling cpu at 20 Hz,
 * with a short heartbeat and back-off so faults are noticed and healed in test time, and one
 * spool folder that every restart of it shares. The rig that owns it stops it.
 */
export const TOKEN = 'T-fault-token';

export interface FaultAgentOptions {
  agentEnv?: Record<string, string>;
  /** Run the agent as this uid/gid (the read-only scenario: root ignores file modes). */
  agentUser?: { uid: number; gid: number };
}

export class FaultAgents {
  readonly storageDir = mkdtempSync(join(tmpdir(), 'fault-spool-'));
  /** Every agent started, the running one last. */
  readonly started: AgentProcess[] = [];
  readonly #owner: Owner;
  readonly #options: FaultAgentOptions;

  constructor(owner: Owner, options: FaultAgentOptions = {}) {
    this.#owner = owner;
    this.#options = options;
    if (options.agentUser) chownSync(this.storageDir, options.agentUser.uid, options.agentUser.gid);
  }

  get latest(): AgentProcess {
    return this.started.at(-1) as AgentProcess;
  }

  /** Starts an agent connecting to `serverUrl` (ws:// or mqtt://) on the shared spool. */
  start(serverUrl: string, extraEnv: Record<string, string> = {}): AgentProcess {
    const agent = spawnAgentCommand(
      this.#owner,
      process.execPath,
      [CLI_PATH, 'run'],
      {
        IOTTLY_SERVER_URL: serverUrl,
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
    this.started.push(agent);
    return agent;
  }

  /** Counts the agents' `online` log lines (reconnects). */
  onlineCount(): number {
    return this.started.reduce((n, a) => n + a.logs.filter(statusIs('online')).length, 0);
  }

  /** Resolves once an agent went online again after the `since`-th time (see onlineCount). */
  onlineAgain(since: number, timeoutMs = 15_000): Promise<LogLine> {
    return this.latest.waitForLog(() => this.onlineCount() > since, timeoutMs);
  }

  logs(predicate: (line: LogLine) => boolean): LogLine[] {
    return this.started.flatMap((a) => a.logs.filter(predicate));
  }

  segments(lane = 'telemetry'): string[] {
    return readdirSync(this.storageDir)
      .filter((n) => n.startsWith(`${lane}-`) && n.endsWith('.seg'))
      .sort();
  }

  /** SIGKILL to every agent: a fault scenario needs no graceful stop. Idempotent. */
  async kill(): Promise<void> {
    for (const agent of this.started) await agent.kill('SIGKILL');
  }
}
