import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Owner } from './owner.js';

/**
 * The agent as a real process (the built dist/cli.js), with its JSON log lines collected so
 * tests can wait for events instead of sleeping.
 */
export const CLI_PATH = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface LogLine {
  level: string;
  msg: string;
  code?: string;
  status?: { kind: string; delayMs?: number; reason?: string };
  [key: string]: unknown;
}

export interface AgentProcess {
  child: ChildProcess;
  logs: LogLine[];
  /** Every byte the process wrote, stdout and stderr, for "never appears" assertions. */
  output(): string;
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` unless the process has exited; resolves when it has. Idempotent. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * How long the stop registered with the owner lets the agent shut down on SIGTERM (ending its
 * commands' process groups) before it sends SIGKILL: a hung agent must not hang the file.
 */
export const STOP_GRACE_MS = 5_000;

/**
 * Each agent gets its own local SDK socket in a fresh temp folder unless the test names one, so
 * agents never meet on the system default path. The agent is stopped when `owner` (the test)
 * ends, if it is still running.
 */
export function spawnAgent(
  owner: Owner,
  args: string[],
  env: Record<string, string> = {},
): AgentProcess {
  return spawnAgentCommand(owner, process.execPath, [CLI_PATH, ...args], env);
}

/**
 * The same for any command that runs the agent (a single-executable build, under qemu),
 * optionally as another user (file modes mean nothing to root). Each agent gets its own local
 * SDK socket and its own spool in temporary folders unless the test names them, removed when
 * it exits.
 */
export function spawnAgentCommand(
  owner: Owner,
  command: string,
  args: string[],
  env: Record<string, string> = {},
  user?: { uid: number; gid: number },
): AgentProcess {
  const socketDir = env.IOTTLY_LOCAL_SOCKET_PATH
    ? null
    : mkdtempSync(join(tmpdir(), 'iottly-agent-sock-'));
  const spoolDir = env.IOTTLY_STORAGE_DIR ? null : mkdtempSync(join(tmpdir(), 'iottly-spool-'));
  const child = spawn(command, args, {
    env: {
      PATH: process.env.PATH ?? '',
      ...(spoolDir ? { IOTTLY_STORAGE_DIR: spoolDir } : {}),
      ...(socketDir ? { IOTTLY_LOCAL_SOCKET_PATH: join(socketDir, 'sdk.sock') } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...user,
  });
  const logs: LogLine[] = [];
  const waiters = new Set<{ predicate: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let text = '';
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    partial += chunk.toString('utf8');
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const raw = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        continue;
      }
      logs.push(line);
      for (const waiter of waiters) {
        if (waiter.predicate(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const exit = once(child, 'exit').then(([code, signal]) => {
    for (const dir of [socketDir, spoolDir]) if (dir) rmSync(dir, { recursive: true, force: true });
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });

  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exit;
  };
  owner.after(async () => {
    const grace = setTimeout(() => void kill('SIGKILL'), STOP_GRACE_MS);
    await kill('SIGTERM');
    clearTimeout(grace);
  });

  return {
    child,
    logs,
    output: () => text,
    waitForLog(predicate, timeoutMs = 10_000) {
      const seen = logs.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve: (l: LogLine) => (clearTimeout(timer), resolve(l)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(`no matching log line within ${timeoutMs} ms; output:\n${text.slice(-4000)}`),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    exited: () => exit,
    kill,
  };
}

/** True for the log line of a status change to `kind`. */
export const statusIs =
  (kind: string) =>
  (line: LogLine): boolean =>
    line.status?.kind === kind;
