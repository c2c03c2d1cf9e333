/**
 * A real mosquitto for the benches: a process of its own on a free loopback port, persistence in
 * a temporary folder, measured from /proc like the hubs (its pid is the broker's CPU and memory).
 * Unlike the tests' helper (test/helpers/mosquitto.ts) it logs no connection lines, since a fleet
 * of thousands of agents would make the broker spend its time writing them, and it lets a hub
 * lag by a long queue rather than drop: a bench that counts every lost frame must not lose any
 * to a broker limit set for small tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/browser.js';
import { MOSQUITTO_PATH } from '../../test/helpers/mosquitto.js';
import { mosquittoConfig } from '../../test/helpers/mosquitto-config.js';
import { openFileLimit } from './proc-stats.js';

/** Longest wait for mosquitto to say it is running. */
const READY_TIMEOUT_MS = 10_000;
/**
 * QoS 1 messages the broker sends a client before that client's acknowledgements come back:
 * a hub receives every agent's frames, tens of thousands a second at a large fleet, and
 * mosquitto's default of 20 would make each hub wait for round trips instead of reading.
 */
const MAX_INFLIGHT = 1_000;
/** Messages the broker queues for a client that lags; past it, mosquitto drops QoS 1 too. */
const MAX_QUEUED = 1_000_000;

export interface MosquittoProcess {
  pid: number;
  /** mqtt://127.0.0.1:PORT */
  url: string;
  /** Its soft limit on open files: one per connected agent or hub. */
  fileLimit: number;
  /** What it wrote to stderr (warnings and errors), the last 64 KiB. */
  log(): string;
  stop(): Promise<void>;
}

export async function startMosquittoProcess(): Promise<MosquittoProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosquitto-'));
  const port = await freePort();
  const configPath = join(dir, 'mosquitto.conf');
  writeFileSync(
    configPath,
    mosquittoConfig({
      port,
      dir,
      connectionMessages: false,
      maxInflight: MAX_INFLIGHT,
      maxQueued: MAX_QUEUED,
      user: userInfo().username,
    }),
  );
  const child = spawn(MOSQUITTO_PATH, ['-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logText = '';
  try {
    await running(child, (chunk) => (logText = (logText + chunk).slice(-65_536)));
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    pid: child.pid as number,
    url: `mqtt://127.0.0.1:${port}`,
    fileLimit: openFileLimit(child.pid as number),
    log: () => logText,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves when mosquitto says "running" (its listener is open by then). */
function running(child: ChildProcess, onLog: (chunk: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let started = false;
    const timer = setTimeout(
      () => reject(new Error(`mosquitto not running in ${READY_TIMEOUT_MS} ms: ${seen}`)),
      READY_TIMEOUT_MS,
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      onLog(text);
      if (started) return;
      seen += text;
      if (/ running$/m.test(seen)) {
        started = true;
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`mosquitto exited at start (${signal ?? code}): ${seen}`));
    });
  });
}
