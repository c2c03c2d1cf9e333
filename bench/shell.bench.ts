/**
 * `npm run bench -- --only shell`: keystroke echo round trip in an interactive session, beside
 * ssh with a pty, measured in the same run.
 *
 *   ours   `iottly-agent shell DEVICE -- /bin/sh -c 'stty raw -echo; exec cat'` (a process, as
 *          an operator runs it) → hub → agent → the pty; one byte typed, its echo awaited
 *   peer   `ssh -tt` to 127.0.0.1 over a ControlMaster connection, the same remote command
 *
 * `stty raw -echo; exec cat` makes the echo a program's (as a shell's line editor does), one
 * byte in, one out. rc files only cost the session's start, which is not measured here (ssh runs
 * `bash -c`, which reads root's ~/.bashrc under Debian's sshd; the agent runs /bin/sh directly).
 * Two floors, measured in the same run:
 *
 *   relay  the same hops with nothing else in them (bench/floors/ws-relay-echo.mjs): a client
 *          process → a bare `ws` relay process → a process driving the same `script` pty, each
 *          a plain Node program passing one ws binary message per read. No hub logic, no agent
 *          logic, no spool: what any design with Node processes and a relay in the middle pays
 *          at best, to set beside ssh (C programs, a ControlMaster in the middle).
 *   pty    a bare pty on this machine: the same command under util-linux `script`, driven
 *          through a pipe from this process, with no network and no hub.
 *
 * ssh needs `sshd` (apt-get install openssh-server); without it the peer is "skipped".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CLI_PATH, spawnAgent, statusIs } from '../test/helpers/agent-process.js';
import { STOPPED_BY_CALLER } from '../test/helpers/owner.js';
import { API_KEY, DEVICE_ID, DEVICE_TOKEN } from '../test/helpers/ws.js';
import { startHubProcess } from './lib/hub-process.js';
import { percentile } from './lib/proc-stats.js';
import { reportRows } from './lib/results.js';
import { startSshd } from './lib/sshd-peer.js';

const RUNS = Number(process.env.BENCH_ECHO_RUNS ?? 500);
const REMOTE = 'stty raw -echo; echo READY; exec cat';
const work = mkdtempSync(join(tmpdir(), 'bench-shell-'));
const RELAY_SCRIPT = fileURLToPath(new URL('./floors/ws-relay-echo.mjs', import.meta.url));

/** Types one byte at a time into `child` and times each echo. */
async function echoRoundTrips(child: ChildProcess, what: string): Promise<number[]> {
  const stdout = child.stdout as NodeJS.ReadableStream;
  const stdin = child.stdin as NodeJS.WritableStream;
  let text = '';
  let waiting: (() => void) | null = null;
  stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    waiting?.();
  });
  const until = (check: () => boolean, ms = 15_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${what}: no echo; got ${JSON.stringify(text.slice(-200))}`)),
        ms,
      );
      waiting = () => {
        if (!check()) return;
        clearTimeout(timer);
        waiting = null;
        resolve();
      };
      waiting();
    });
  await until(() => text.includes('READY'));
  text = '';
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    const expected = text.length + 1;
    const started = performance.now();
    stdin.write(key);
    await until(() => text.length >= expected);
    samples.push(performance.now() - started);
    if (text[expected - 1] !== key)
      throw new Error(`${what}: echoed ${JSON.stringify(text.slice(-5))}`);
  }
  return samples;
}

async function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** The next line a relay-floor process prints, or an error if it ends first. */
async function nextLine(child: ChildProcess, lines: AsyncIterator<string>): Promise<string> {
  const next = await lines.next();
  if (next.done) throw new Error(`ws-relay-echo exited (${child.exitCode ?? child.signalCode})`);
  return next.value;
}

/** The echo through the bare relay floor: client → ws relay → the process driving `script`. */
async function relayFloor(): Promise<number[]> {
  const node = (...args: string[]): ChildProcess =>
    spawn(process.execPath, [RELAY_SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const relay = node('relay');
  const started: ChildProcess[] = [relay];
  try {
    const lines = createInterface({ input: relay.stdout as NodeJS.ReadableStream })[
      Symbol.asyncIterator
    ]();
    const url = `ws://127.0.0.1:${await nextLine(relay, lines)}`;
    const client = node('client', url);
    started.push(client);
    // The client first, so that the pty's READY has somewhere to go.
    while ((await nextLine(relay, lines)) !== '/client');
    started.push(node('pty', url, REMOTE));
    return await echoRoundTrips(client, 'bare ws relay');
  } finally {
    for (const child of started.reverse()) await ended(child);
  }
}

function p(samples: number[]): string {
  return `${percentile(samples, 50).toFixed(2)} / ${percentile(samples, 99).toFixed(2)}`;
}

async function main(): Promise<void> {
  const hub = await startHubProcess(new Map([[DEVICE_ID, DEVICE_TOKEN]]), API_KEY);
  const agent = spawnAgent(STOPPED_BY_CALLER, ['run'], {
    IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_LOG_LEVEL: 'info',
  });
  const sshd = await startSshd(work);
  try {
    await agent.waitForLog(statusIs('online'));
    console.log(`node ${process.version}, ${RUNS} keystrokes each\n`);

    const bare = spawn('/usr/bin/script', ['-q', '-e', '-f', '-c', REMOTE, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const floor = await echoRoundTrips(bare, 'bare pty');
    await ended(bare);

    const relay = await relayFloor();

    const cli = spawn(
      process.execPath,
      [CLI_PATH, 'shell', DEVICE_ID, '--', '/bin/sh', '-c', REMOTE],
      {
        env: { ...process.env, IOTTLY_HUB_URL: hub.httpUrl, IOTTLY_API_KEY: API_KEY },
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const ours = await echoRoundTrips(cli, 'iottly-agent shell');
    await ended(cli);

    let ssh: number[] | null = null;
    if (sshd) {
      const child = spawn('ssh', ['-tt', ...sshd.args, REMOTE], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      ssh = await echoRoundTrips(child, 'ssh -tt');
      await ended(child);
    }

    const row = (name: string, value: string, note = ''): void =>
      console.log(`${name.padEnd(52)} ${value.padStart(16)}  ${note}`);
    row('keystroke echo, ms p50 / p99', '');
    row('  iottly-agent shell → hub → agent → pty', p(ours));
    row('  floor: bare Node ws relay, same hops and pty', p(relay));
    row('  floor: the same pty, no network (script)', p(floor));
    row(
      '  ssh -tt over ControlMaster',
      ssh ? p(ssh) : 'skipped (no sshd)',
      ssh
        ? `ours/ssh p50 ${(percentile(ours, 50) / percentile(ssh, 50)).toFixed(2)} (goal ≤ 1)`
        : '',
    );
    const peer = (q: number) =>
      ssh
        ? { name: 'ssh -tt over ControlMaster', value: percentile(ssh, q) }
        : { name: 'ssh -tt over ControlMaster', value: null, note: 'openssh-server not installed' };
    reportRows(
      [50, 99].flatMap((q) => [
        {
          figure: `shell keystroke echo p${q}`,
          unit: 'ms',
          better: 'lower' as const,
          ours: percentile(ours, q),
          floor: percentile(floor, q),
          floorName: 'bare pty under script, no network',
          peer: peer(q),
        },
        {
          figure: `shell keystroke echo p${q}, beside the relay floor`,
          unit: 'ms',
          better: 'lower' as const,
          ours: percentile(ours, q),
          floor: percentile(relay, q),
          floorName: 'client → bare ws relay → script, three plain Node processes',
          peer: peer(q),
        },
      ]),
    );
  } finally {
    sshd?.stop();
    await agent.kill('SIGTERM');
    await hub.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
