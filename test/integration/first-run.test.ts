import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI_PATH, STOP_GRACE_MS } from '../helpers/agent-process.js';
import { freePort } from '../helpers/browser.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/ws.js';

/**
 * The first run as a new user sees it: `--help` everywhere, readable logs on a terminal and JSON
 * lines on a pipe, one line for a busy port, every configuration problem at once, and the
 * README's by-hand commands working as written for a user who is not root.
 */
const README = new URL('../../README.md', import.meta.url);
/** nobody: the README's commands are for a user without root. */
const NOBODY = { uid: 65_534, gid: 65_534 };

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** SIGTERM to the process group (a shell and what it started, or script and its PTY child). */
  stop(): Promise<number | null>;
}

/**
 * Starts `command` in a process group of its own, stopped (SIGTERM to the group, SIGKILL after
 * a grace) when `owner` (the test) ends.
 */
function startCli(
  owner: Owner,
  command: string,
  args: string[],
  options: { env?: Record<string, string>; user?: { uid: number; gid: number } } = {},
): Cli {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...options.user,
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-(child.pid as number), signal);
    } catch {
      // already gone
    }
  };
  const stop = (): Promise<number | null> => {
    signalGroup('SIGTERM');
    return exited;
  };
  owner.after(async () => {
    const grace = setTimeout(() => signalGroup('SIGKILL'), STOP_GRACE_MS);
    await stop();
    clearTimeout(grace);
  });
  return { child, stdout: () => out, stderr: () => err, exited, stop };
}

const agentCli = (owner: Owner, args: string[], env: Record<string, string> = {}): Cli =>
  startCli(owner, process.execPath, [CLI_PATH, ...args], { env });

/** The command under a pseudo-terminal (util-linux `script`), as a user at a terminal runs it. */
const underTerminal = (owner: Owner, args: string[], env: Record<string, string> = {}): Cli =>
  startCli(
    owner,
    'script',
    ['-q', '-e', '-c', [process.execPath, CLI_PATH, ...args].join(' '), '/dev/null'],
    { env },
  );

interface StatusLine {
  msg: string;
  status: { kind: string; attempt?: number };
  outbox?: Record<string, unknown>;
}

const lines = (text: string): string[] =>
  text
    .replaceAll('\r', '')
    .split('\n')
    .filter((line) => line.trim() !== '');

function isJsonLine(line: string): boolean {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
}

describe('first run', () => {
  it('every command prints its usage and flags on --help, exits 0 and starts nothing', async (t) => {
    const expected: Record<string, string[]> = {
      run: ['--config PATH', '--server-url', '--log-format', '--allow-insecure-config-permissions'],
      'check-config': ['--config PATH', '--device-id', '--storage-dir'],
      hub: ['--port PORT', '--api-key KEY', '--log-format'],
      publish: ['--channel C', '--local-socket-path'],
      'broker-config': ['--out DIR', '--device-token-file FILE', '--hub-credential USER=PASSWORD'],
      demo: ['Ctrl-C'],
      version: ['version'],
    };
    for (const [command, flags] of Object.entries(expected)) {
      const cli = agentCli(t, [command, '--help']);
      assert.equal(await cli.exited, 0, `${command} --help: ${cli.stderr()}`);
      assert.ok(cli.stdout().startsWith(`usage: iottly-agent ${command}`), cli.stdout());
      for (const flag of flags) assert.ok(cli.stdout().includes(flag), `${command}: ${flag}`);
      assert.equal(cli.stderr(), '', command);
    }
  });

  it('hub on a busy port or a foreign address: one line on stderr and exit 69', async (t) => {
    const busy = createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    t.after(() => void busy.close());
    const { port } = busy.address() as AddressInfo;
    const inUse = agentCli(t, ['hub', '--port', String(port)]);
    assert.equal(await inUse.exited, 69);
    assert.equal(
      inUse.stderr(),
      `iottly-agent: hub: port ${port} on 127.0.0.1 is in use (EADDRINUSE)\n`,
    );
    // 192.0.2.1 is TEST-NET-1: never an address of this machine.
    const foreign = agentCli(t, ['hub', '--host', '192.0.2.1', '--port', '0']);
    assert.equal(await foreign.exited, 69);
    assert.match(
      foreign.stderr(),
      /^iottly-agent: hub: 192\.0\.2\.1 is not an address of this machine \(EADDRNOTAVAIL\); choose another --host\n$/,
    );
  });

  it('hub: JSON lines on stdout when it is not a terminal, the banner on stderr', async (t) => {
    const hub = agentCli(t, ['hub', '--port', '0']);
    await waitFor(() => hub.stderr().includes('api key (generated'), 10_000);
    await waitFor(() => hub.stdout().includes('hub listening'), 10_000);
    assert.equal(await hub.stop(), 0);
    assert.match(hub.stderr(), /^iottly hub listening on http:\/\/127\.0\.0\.1:\d+ /);
    const out = lines(hub.stdout());
    assert.ok(out.length >= 2, hub.stdout());
    for (const line of out) assert.ok(isJsonLine(line), `not JSON: ${line}`);
  });

  it('hub and agent on a terminal: readable lines, unless --log-format/log.format says json', async (t) => {
    const hub = underTerminal(t, ['hub', '--port', '0']);
    await waitFor(() => /INFO.*hub listening/.test(hub.stdout()), 10_000);
    await hub.stop();
    assert.ok(!lines(hub.stdout()).some(isJsonLine), hub.stdout());

    const port = await freePort(); // nothing listens: the agent logs its retries
    const env = {
      IOTTLY_SERVER_URL: `ws://127.0.0.1:${port}/v1/device`,
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: 'T',
      IOTTLY_LOCAL_ENABLED: 'false',
      IOTTLY_STORAGE_DIR: tempDir('iottly-first-run-', t),
    };
    const agent = underTerminal(t, ['run'], env);
    await waitFor(() => /WARN.*connection retrying/.test(agent.stdout()), 10_000);
    await agent.stop();
    assert.ok(!lines(agent.stdout()).some(isJsonLine), agent.stdout());

    const json = underTerminal(t, ['run'], { ...env, IOTTLY_LOG_FORMAT: 'json' });
    await waitFor(() => json.stdout().includes('connection retrying'), 10_000);
    await json.stop();
    assert.ok(lines(json.stdout()).every(isJsonLine), json.stdout());
  });

  it('status lines: the attempt agrees with its words, the outbox is logged when it changed', async (t) => {
    const port = await freePort();
    const storage = tempDir('iottly-first-run-', t);
    const agent = agentCli(t, ['run'], {
      IOTTLY_SERVER_URL: `ws://127.0.0.1:${port}/v1/device`,
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: 'T',
      IOTTLY_LOCAL_ENABLED: 'false',
      IOTTLY_STORAGE_DIR: storage,
      IOTTLY_RECONNECT_INITIAL_DELAY_MS: '20',
      IOTTLY_RECONNECT_MAX_DELAY_MS: '40',
    });
    const statusLines = (): StatusLine[] =>
      lines(agent.stdout())
        .map((line) => JSON.parse(line) as StatusLine)
        .filter((line) => line.status);
    await waitFor(
      () => statusLines().filter((l) => l.status.kind === 'backoff').length >= 4,
      10_000,
    );
    await agent.stop();
    const status = statusLines();
    for (const line of status.filter((l) => l.status.kind === 'connecting')) {
      assert.ok(line.msg.includes(`(attempt ${line.status.attempt})`), line.msg);
    }
    assert.equal(status[0]?.status.attempt, 1, 'the first dial is attempt 1');
    const outboxes = status.flatMap((l) => (l.outbox ? [JSON.stringify(l.outbox)] : []));
    assert.ok(
      outboxes.length >= 1 && outboxes.length < status.length,
      `${outboxes.length}/${status.length}`,
    );
    for (let i = 1; i < outboxes.length; i++) assert.notEqual(outboxes[i], outboxes[i - 1]);
  });

  it('config: every problem in one pass, each saying how to set the key; typos warn', async (t) => {
    const cli = agentCli(t, ['run'], {
      IOTTLY_HEARTBEAT_INTERVAL_MS: '30s',
      IOTTLY_SERVER_ULR: 'ws://127.0.0.1:1/v1/device',
    });
    assert.equal(await cli.exited, 78);
    const err = lines(cli.stderr());
    assert.deepEqual(err, [
      'iottly-agent: warning: unknown environment variable IOTTLY_SERVER_ULR (ignored); did you mean IOTTLY_SERVER_URL?',
      'iottly-agent: config error: heartbeat.intervalMs = "30s" (from env IOTTLY_HEARTBEAT_INTERVAL_MS): must be an integer from 1 to 86400000',
      'iottly-agent: config error: server.url is required: set it in the config file as server.url, or IOTTLY_SERVER_URL, or --server-url (the hub URL, e.g. wss://hub.example.com/v1/device)',
      "iottly-agent: config error: device.id is required: set it in the config file as device.id, or IOTTLY_DEVICE_ID, or --device-id (this device's id)",
      'iottly-agent: config error: auth.token is required: set it in the config file as auth.token, or IOTTLY_AUTH_TOKEN, or --auth-token (the device token; or a file holding it: the config file as auth.tokenFile, or IOTTLY_AUTH_TOKEN_FILE, or --auth-token-file)',
    ]);
  });

  it('check-config: warnings once, and the default paths resolved for who runs it', async (t) => {
    const home = tempDir('iottly-home-', t);
    const cli = agentCli(t, ['check-config'], {
      HOME: home,
      IOTTLY_SERVER_URL: 'ws://127.0.0.1:1/v1/device',
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: 'T',
      IOTTLY_SEVRER_URL: 'x',
    });
    assert.equal(await cli.exited, 0, cli.stderr());
    assert.deepEqual(lines(cli.stderr()), [
      'iottly-agent: warning: unknown environment variable IOTTLY_SEVRER_URL (ignored); did you mean IOTTLY_SERVER_URL?',
    ]);
    const { storage } = JSON.parse(cli.stdout()) as { storage: { dir: string } };
    const root = process.getuid?.() === 0;
    assert.equal(
      storage.dir,
      root ? '/var/lib/iottly-agent' : join(home, '.local/state/iottly-agent/dev1'),
    );
  });

  it("the README's by-hand commands work as written for a user who is not root", async (t) => {
    const readme = readFileSync(README, 'utf8');
    const block = /The two halves by hand[^`]*```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const [hubLine, agentLine, curlLine] = lines(block);
    assert.ok(hubLine && agentLine && curlLine, block);
    const port = String(await freePort());
    // `exec`: the shell becomes the command, so its exit code is the command's.
    const asWritten = (line: string): string =>
      line
        .replace(/\b(npx iottly-agent|curl)\b/, 'exec $1')
        .replaceAll('npx iottly-agent', `${process.execPath} ${CLI_PATH}`)
        .replaceAll('8080', port);

    const home = tempDir('iottly-home-', t);
    const root = process.getuid?.() === 0;
    if (root) chownSync(home, NOBODY.uid, NOBODY.gid);
    const options = { env: { HOME: home }, ...(root ? { user: NOBODY } : {}) };
    const hub = startCli(t, '/bin/sh', ['-c', asWritten(hubLine)], options);
    await waitFor(() => hub.stderr().includes('listening on'), 10_000);
    const agent = startCli(t, '/bin/sh', ['-c', asWritten(agentLine)], options);

    await waitFor(() => /"kind":"online"/.test(agent.stdout()), 10_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${agent.stdout()}${agent.stderr()}${hub.stdout()}`);
    });
    const curl = startCli(t, '/bin/sh', ['-c', asWritten(curlLine)], options);
    assert.equal(await curl.exited, 0, curl.stderr());
    const devices = JSON.parse(curl.stdout()) as Array<{ device_id: string; connected: boolean }>;
    assert.deepEqual(
      devices.map((d) => [d.device_id, d.connected]),
      [['dev1', true]],
    );
    assert.equal(await agent.stop(), 0);
    assert.equal(await hub.stop(), 0);
    const output = [agent.stdout(), agent.stderr(), hub.stdout(), hub.stderr()].join('\n');
    assert.ok(!/"level":"(error|fatal)"|ERROR/.test(output), output);
    assert.ok(existsSync(join(home, '.local/state/iottly-agent/dev1')), 'the per-user spool');
  });
});
