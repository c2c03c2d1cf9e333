import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './browser.js';
import type { Owner } from './owner.js';
import { tempDir } from './temp-dir.js';

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
}

export async function startMosquitto(
  owner: Owner,
  options: MosquittoOptions = {},
): Promise<Mosquitto> {
  // A missing broker fails the test with what to do, never skips it: CI installs it.
  if (!existsSync(MOSQUITTO_PATH))
    throw new Error(
      `no mosquitto at ${MOSQUITTO_PATH}: apt-get install mosquitto (or set IOTTLY_MOSQUITTO)`,
    );
  const dir = tempDir('iottly-mosquitto-', owner);
  const port = await freePort();
  const lines = [
    `listener ${port} 127.0.0.1`,
    'persistence true',
    `persistence_location ${dir}/`,
    `autosave_interval ${options.autosaveIntervalS ?? 1}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    'max_queued_messages 100000',
    'max_inflight_messages 100',
  ];
  const extraConfig = options.extraConfig ?? [];
  // Started by root, mosquitto drops to the `mosquitto` user, which may not write the
  // temporary folder (0700): every autosave and the save at SIGTERM would fail, and a
  // restart would come back empty. Staying root (unless the test names a user) keeps
  // persistence what the tests say it is.
  if (process.getuid?.() === 0 && !extraConfig.some((line) => line.startsWith('user ')))
    lines.push('user root');
  if (options.passwordFile) {
    lines.push('allow_anonymous false', `password_file ${options.passwordFile}`);
    if (options.aclFile) lines.push(`acl_file ${options.aclFile}`);
  } else lines.push('allow_anonymous true');
  lines.push(...extraConfig);
  const configPath = join(dir, 'mosquitto.conf');
  writeFileSync(configPath, `${lines.join('\n')}\n`);

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
  await start();
  owner.after(() => end('SIGKILL'));
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
