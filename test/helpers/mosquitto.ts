import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './browser.js';
import { mosquittoConfig } from './mosquitto-config.js';
import type { Owner } from './owner.js';

/**
 * A real mosquitto (Debian's package; `.ci/run` installs it) on a free loopback port, with
 * persistence in a temporary folder, stopped when `owner` (the test) ends. `restart()` stops it
 * gracefully (mosquitto saves its persistence file on SIGTERM) and starts it again on the same
 * port and folder; `kill()` ends it with SIGKILL (nothing saved since the last autosave).
 */
export const MOSQUITTO_PATH = process.env['IOTTLY_MOSQUITTO'] ?? '/usr/sbin/mosquitto';
const READY_TIMEOUT_MS = 10_000;

export interface MosquittoOptions {
  /** A mosquitto_passwd file: without it, anonymous clients are allowed. */
  passwordFile?: string;
  /** A mosquitto ACL file (with passwordFile). */
  aclFile?: string;
  /** More lines for mosquitto.conf (for example a TLS listener). */
  extraConfig?: string[];
  /** Seconds between autosaves of the persistence file (mosquitto's default is 1800). */
  autosaveIntervalS?: number;
}

export interface Mosquitto {
  port: number;
  /** mqtt://127.0.0.1:PORT */
  url: string;
  /** The folder of mosquitto.conf, its persistence file and log. */
  dir: string;
  /** What mosquitto wrote to its log so far (connections, refusals). */
  log(): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  kill(): Promise<void>;
  /** SIGHUP: mosquitto reads its password and ACL files again; resolves at its "Reloading" line. */
  reload(timeoutMs?: number): Promise<void>;
  /** Resolves at mosquitto's next autosave after now (its "Saving in-memory database" line). */
  nextSave(timeoutMs?: number): Promise<void>;
}

const SAVE_LINE = 'Saving in-memory database';
const RELOAD_LINE = 'Reloading config';

export async function startMosquitto(
  owner: Owner,
  options: MosquittoOptions = {},
): Promise<Mosquitto> {
  // A missing broker fails the test with what to do, never skips it: CI installs it.
  if (!existsSync(MOSQUITTO_PATH))
    throw new Error(
      `no mosquitto at ${MOSQUITTO_PATH}: apt-get install mosquitto (or set IOTTLY_MOSQUITTO)`,
    );
  // Removed after mosquitto has ended, in the same hook: an owner runs its hooks in the order
  // they came, and a folder removed first could still be written by an autosave (ENOTEMPTY).
  const dir = mkdtempSync(join(tmpdir(), 'iottly-mosquitto-'));
  const port = await freePort();
  const extraConfig = options.extraConfig ?? [];
  // Staying root (unless the test names a user) keeps persistence what the tests say it is.
  const asRoot = process.getuid?.() === 0 && !extraConfig.some((line) => line.startsWith('user '));
  const configPath = join(dir, 'mosquitto.conf');
  writeFileSync(
    configPath,
    mosquittoConfig({
      port,
      dir,
      autosaveIntervalS: options.autosaveIntervalS ?? 1,
      connectionMessages: true,
      maxInflight: 100,
      maxQueued: 100_000,
      ...(asRoot ? { user: 'root' } : {}),
      ...(options.passwordFile ? { passwordFile: options.passwordFile } : {}),
      ...(options.aclFile ? { aclFile: options.aclFile } : {}),
      extra: extraConfig,
    }),
  );

  let child: ChildProcess | null = null;
  let logText = '';
  const start = async (): Promise<void> => {
    if (child) return;
    const started = spawn(MOSQUITTO_PATH, ['-c', configPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = started;
    started.stderr?.on('data', (chunk: Buffer) => {
      // Bounded: a long test keeps the last 1 MiB of the log.
      logText = (logText + chunk.toString('utf8')).slice(-1_048_576);
    });
    started.once('exit', () => {
      if (child === started) child = null;
    });
    await waitForPort(port, started, () => logText);
  };
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child;
    if (!running) return;
    const exited = once(running, 'exit');
    running.kill(signal);
    await exited;
  };
  owner.after(async () => {
    await end('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    log: () => logText,
    stop: () => end('SIGTERM'),
    start,
    restart: async () => {
      await end('SIGTERM');
      await start();
    },
    kill: () => end('SIGKILL'),
    async reload(timeoutMs = 10_000) {
      const reloads = (): number => logText.split(RELOAD_LINE).length;
      const before = reloads();
      child?.kill('SIGHUP');
      const deadline = Date.now() + timeoutMs;
      while (reloads() === before) {
        if (Date.now() > deadline) throw new Error(`mosquitto did not reload in ${timeoutMs} ms`);
        await sleep(50);
      }
    },
    async nextSave(timeoutMs = 10_000) {
      const saves = (): number => logText.split(SAVE_LINE).length;
      const before = saves();
      const deadline = Date.now() + timeoutMs;
      while (saves() === before) {
        if (Date.now() > deadline) throw new Error(`mosquitto saved nothing in ${timeoutMs} ms`);
        await sleep(50);
      }
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`mosquitto exited at start: ${log()}`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`mosquitto not listening on ${port}: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
