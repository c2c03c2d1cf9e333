import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CLI_PATH, spawnAgent, statusIs } from '../helpers/agent-process.js';
import { childrenOf } from '../helpers/commands-harness.js';
import type { Owner } from '../helpers/owner.js';
import { API_KEY, DEVICE_ID, DEVICE_TOKEN, startHub } from '../helpers/ws.js';

/**
 * `iottly-agent shell DEVICE` as an operator runs it: in a real terminal (util-linux `script`
 * gives it a pty), against the reference hub and the agent spawned as a process.
 */

const BASH = ['--', '/bin/bash', '--norc', '--noprofile', '-i'];

interface Operator {
  child: ChildProcess;
  screen(): string;
  type(text: string): void;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/** A hub and an agent for the file's tests (starting an agent is most of a test's time). */
async function deviceRig(owner: Owner): Promise<string> {
  const hub = await startHub(owner);
  const agent = spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_TELEMETRY_STREAMS: '[]',
    IOTTLY_COMMANDS_KILL_GRACE_MS: '300',
  });
  await agent.waitForLog(statusIs('online'));
  return hub.url;
}

/** `iottly-agent shell DEVICE ARGS` in a pty of its own, as an operator's terminal. */
function operatorShell(t: Owner, hubUrl: string, args: string[]): Operator {
  const line = [process.execPath, CLI_PATH, 'shell', DEVICE_ID, ...args]
    .map((word) => `'${word.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const child = spawn('/usr/bin/script', ['-q', '-e', '-f', '-c', line, '/dev/null'], {
    env: {
      PATH: process.env.PATH ?? '',
      IOTTLY_HUB_URL: hubUrl,
      IOTTLY_API_KEY: API_KEY,
      TERM: 'xterm',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  let text = '';
  const waiters = new Set<() => void>();
  const collect = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const waiter of waiters) waiter();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return {
    child,
    screen: () => text,
    type: (keys) => child.stdin.write(keys),
    exited,
    waitFor: (pattern, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (!pattern.test(text)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no ${pattern} within ${timeoutMs} ms; screen: ${JSON.stringify(text.slice(-400))}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}

/** The pty `script` gave the CLI (its stdin), from /proc. */
function cliTerminal(scriptPid: number): string {
  for (const pid of [scriptPid, ...childrenOf(scriptPid)]) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (/^\/dev\/pts\/\d+$/.test(target)) return target;
      } catch {
        // closed while listed
      }
    }
  }
  throw new Error('no pty found');
}

describe('iottly-agent shell', () => {
  const stops: (() => void | Promise<void>)[] = [];
  const suite: Owner = { after: (fn) => void stops.push(fn) };
  let hubUrl = '';
  before(async () => {
    hubUrl = await deviceRig(suite);
  });
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  it('runs commands in a remote terminal, follows a local resize, exits with the remote status', async (t) => {
    const operator = operatorShell(t, hubUrl, BASH);
    operator.type('echo ready-$((6*7))\r');
    await operator.waitFor(/ready-42/);
    // The local window changes: the CLI gets SIGWINCH and the remote terminal follows.
    const tty = cliTerminal(operator.child.pid as number);
    assert.equal(spawnSync('stty', ['-F', tty, 'rows', '50', 'cols', '150']).status, 0);
    // The resize travels CLI → hub → agent → stty while we ask: ask until the answer is new.
    for (let attempt = 1; !/[\r\n]50 150\r+\n/.test(operator.screen()); attempt++) {
      assert.ok(attempt <= 50, `no 50 150 after ${attempt} tries`);
      operator.type(`stty size; echo asked-${attempt}-$((0))\r`);
      await operator.waitFor(new RegExp(`asked-${attempt}-0`));
    }
    operator.type('exit 5\r');
    assert.equal(await operator.exited, 5);
  });

  it('drops the session on ~. after a newline, with 255 as ssh does', async (t) => {
    const operator = operatorShell(t, hubUrl, BASH);
    operator.type('echo up-$((2+3))\r');
    await operator.waitFor(/up-5/);
    operator.type('\r~.');
    assert.equal(await operator.exited, 255);
    assert.match(operator.screen(), /session dropped/);
  });
});
