import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { pino } from 'pino';
import type { AgentContext } from '../../src/agent/agent.js';
import type { Outbox } from '../../src/agent/outbox.js';
import { Router } from '../../src/agent/router.js';
import { CommandsFeature, type CommandsSettings } from '../../src/commands/commands-feature.js';
import { CommandDefaults } from '../../src/config/commands-schema.js';
import { DEFAULT_ALLOW_ENV } from '../../src/commands/env-policy.js';
import { listProcesses } from '../../src/process/group-members.js';
import type { RunAs } from '../../src/process/run-as.js';
import type { FrameError } from '../../src/protocol/parse.js';
import { systemClock } from '../../src/time/clock.js';
import { realCommandRunner } from './real-runner.js';
import type { Owner } from './owner.js';

/**
 * The commands feature on a real Router with real child processes, but no socket: frames go
 * in through `send`, and what the feature emits is collected per request id. The outbox is a
 * switch the test flips to play a backed-up link. The feature is stopped (its commands ended)
 * when `owner` (the test) ends.
 */
export interface Emitted {
  type: string;
  payload: Record<string, unknown>;
  request_id?: string;
}

export class SwitchOutbox implements Pick<Outbox, 'isBackedUp' | 'onDrain'> {
  backedUp = false;
  readonly #listeners = new Set<() => void>();

  isBackedUp(): boolean {
    return this.backedUp;
  }

  onDrain(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  drain(): void {
    this.backedUp = false;
    for (const listener of this.#listeners) listener();
  }
}

export class CommandsHarness {
  readonly feature: CommandsFeature;
  readonly outbox = new SwitchOutbox();
  readonly emitted: Emitted[] = [];
  readonly routerErrors: FrameError[] = [];
  readonly #router: Router;
  readonly #waiters = new Set<{ p: (e: Emitted) => boolean; r: (e: Emitted) => void }>();

  constructor(
    owner: Owner,
    settings: Partial<CommandsSettings> = {},
    env: Record<string, string> = {},
    runAs: RunAs | null = null,
  ) {
    this.feature = new CommandsFeature({
      settings: {
        enabled: true,
        defaultTimeoutS: 30,
        maxTimeoutS: 60,
        killGraceMs: 300,
        maxConcurrent: CommandDefaults.maxConcurrent,
        maxOutputBytes: CommandDefaults.maxOutputBytes,
        allow: [],
        deny: [],
        allowShell: false,
        allowEnv: DEFAULT_ALLOW_ENV,
        ...settings,
      },
      runner: realCommandRunner(),
      runAs,
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      shutdownGraceMs: 300,
    });
    this.#router = new Router((error) => this.routerErrors.push(error));
    const context = {
      deviceId: 'dev',
      clock: systemClock,
      logger: pino({ level: 'silent' }),
      outbox: this.outbox as unknown as Outbox,
      router: this.#router,
      emit: (type: string, _channel: string, payload: Record<string, unknown>, id?: string) => {
        const e: Emitted = { type, payload };
        if (id !== undefined) e.request_id = id;
        this.emitted.push(e);
        for (const w of this.#waiters) {
          if (w.p(e)) {
            this.#waiters.delete(w);
            w.r(e);
          }
        }
      },
      status: () => ({ kind: 'online' }),
      onStatus: () => () => {},
    } as unknown as AgentContext;
    owner.after(() => this.feature.stop());
    this.feature.start(context);
  }

  send(type: string, payload: Record<string, unknown>, requestId?: string): void {
    this.#router.dispatch(JSON.stringify({ type, payload, request_id: requestId }));
  }

  next(predicate: (e: Emitted) => boolean, timeoutMs = 10_000): Promise<Emitted> {
    const seen = this.emitted.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no matching emitted frame')), timeoutMs);
      this.#waiters.add({ p: predicate, r: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }

  /** The final frame (`command_done` or `error`) of a request. */
  end(requestId: string, timeoutMs?: number): Promise<Emitted> {
    return this.next(
      (e) => e.request_id === requestId && (e.type === 'command_done' || e.type === 'error'),
      timeoutMs,
    );
  }

  /** Runs a command to its end and returns its rebuilt stdout/stderr and the final frame. */
  async run(
    requestId: string,
    payload: Record<string, unknown>,
  ): Promise<{ stdout: Buffer; stderr: Buffer; end: Emitted; chunks: Emitted[] }> {
    this.send('command', payload, requestId);
    const end = await this.end(requestId);
    const chunks = this.emitted.filter(
      (e) => e.request_id === requestId && e.type === 'command_output',
    );
    return { stdout: rebuild(chunks, 'stdout'), stderr: rebuild(chunks, 'stderr'), end, chunks };
  }
}

export function rebuild(chunks: Emitted[], fd: string): Buffer {
  return Buffer.concat(
    chunks
      .filter((c) => c.payload.fd === fd)
      .map((c) =>
        Buffer.from(c.payload.chunk as string, c.payload.encoding === 'base64' ? 'base64' : 'utf8'),
      ),
  );
}

/** Processes (not zombies) whose command line holds `marker`, from /proc. */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const p of listProcesses()) {
    if (p.state === 'Z') continue;
    try {
      const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      if (cmdline.includes(marker)) found.push(p.pid);
    } catch {
      // ended while we looked
    }
  }
  return found;
}

/** Zombie children of `ppid` (ones it has not reaped). */
export function zombiesOf(ppid: number): number[] {
  return listProcesses()
    .filter((p) => p.ppid === ppid && p.state === 'Z')
    .map((p) => p.pid);
}

/** Children of `ppid` that are running (not zombies). */
export function childrenOf(ppid: number): number[] {
  return listProcesses()
    .filter((p) => p.ppid === ppid && p.state !== 'Z')
    .map((p) => p.pid);
}

/** Open file descriptors of this process, except the one readdir itself uses. */
export function openFds(pid: number | 'self' = 'self'): string[] {
  const dir = `/proc/${pid}/fd`;
  return readdirSync(dir).flatMap((fd) => {
    try {
      return [readlinkSync(`${dir}/${fd}`)];
    } catch {
      return [];
    }
  });
}

export function uniqueMarker(): string {
  // A sleep duration no other test uses: `sleep 3000.<digits>` is easy to find in /proc.
  return `3000.${process.pid}${Math.floor(Math.random() * 1e6)}`;
}
