import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { processesWith, uniqueMarker } from '../helpers/commands-harness.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import type { Owner } from '../helpers/owner.js';
import { ShellSessionClient } from '../helpers/shell-session.js';
import {
  DEVICE_ID,
  DEVICE_TOKEN,
  connectClient,
  startHub,
  waitFor,
  type Peer,
  type TestHub,
} from '../helpers/ws.js';

/**
 * Shell sessions from a `/v1/stream` client through the reference hub to the agent spawned as a
 * process: a real terminal (util-linux `script`), its size, Ctrl-C, the end of every process of
 * the session, the gates, and a link cut.
 */

/** bash without rc files (root's may be slow), interactive: job control, a fixed prompt. */
const BASH = {
  argv: ['/bin/bash', '--norc', '--noprofile', '-i'],
  env: { PS1: 'PROMPT> ' },
};

async function shellRig(
  t: Owner,
  env: Record<string, string> = {},
  via?: (hub: TestHub) => Promise<string>,
): Promise<{ hub: TestHub; agent: AgentProcess; client: Peer }> {
  const hub = await startHub(t);
  const url = via ? await via(hub) : hub.wsUrl;
  const agent = spawnAgent(t, ['run'], {
    IOTTLY_SERVER_URL: `${url}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_LOG_LEVEL: 'debug',
    IOTTLY_COMMANDS_KILL_GRACE_MS: '300',
    IOTTLY_TELEMETRY_STREAMS: '[]',
    ...env,
  });
  await agent.waitForLog(statusIs('online'));
  const client = await connectClient(hub.wsUrl);
  t.after(() => client.ws.terminate());
  return { hub, agent, client };
}

/** An Owner for what a suite shares: stopped after its last test. */
function suiteOwner(): Owner & { stop(): Promise<void> } {
  const stops: (() => void | Promise<void>)[] = [];
  return {
    after: (fn) => void stops.push(fn),
    stop: async () => {
      for (const stop of stops.reverse()) await stop();
    },
  };
}

describe('shell sessions end to end', () => {
  // The first tests share one hub and agent: starting an agent is most of a test's time.
  const suite = suiteOwner();
  let shared: Awaited<ReturnType<typeof shellRig>>;
  before(async () => {
    shared = await shellRig(suite);
  });
  after(() => suite.stop());

  it('gives a pty of the size asked for, resizes it, and ends with the exit status (binary frames)', async () => {
    const rig = shared;
    const session = new ShellSessionClient(rig.client, 's1', 7);
    session.open({ rows: 33, cols: 101, ...BASH });
    await session.waitFor(/PROMPT> /);
    session.type('stty size; tty\r');
    await session.waitFor(/[\r\n]33 101\r\n/);
    await session.waitFor(/\/dev\/pts\/\d+\r\n/);
    // SIGWINCH reaches the foreground program: a trap in the shell sees it and prints the size.
    // stty sets rows, then columns (a SIGWINCH each): the trap's last run sees both.
    session.type('trap \'echo WINCH-SEEN-$(stty size | tr " " x)\' WINCH; echo trap-$((1+1))\r');
    await session.waitFor(/trap-2\r\n/); // the trap is set before the window changes
    session.resize(40, 120);
    await session.waitFor(/WINCH-SEEN-40x120/);
    session.type('stty size\r');
    await session.waitFor(/[\r\n]40 120\r\n/);
    session.type('exit 7\r');
    const done = await session.done();
    assert.equal(done.payload.exit_code, 7);
    assert.equal(session.jsonOutputs, 0, 'the bytes came as binary frames');
    assert.equal(done.payload.closed, false);
  });

  it('sends Ctrl-C to the foreground job only: the shell survives', async () => {
    const rig = shared;
    const session = new ShellSessionClient(rig.client, 's2');
    const marker = uniqueMarker();
    session.open({ rows: 24, cols: 80, ...BASH });
    await session.waitFor(/PROMPT> /);
    session.type(`sleep ${marker}; echo "after=$?"\r`);
    await waitFor(() => processesWith(marker).length === 1, 15_000);
    session.type('\x03');
    // bash sees its job die of SIGINT and drops the rest of the line; the shell itself is alive.
    await waitFor(() => processesWith(marker).length === 0, 15_000);
    session.type('echo still-$((6*7))\r');
    await session.waitFor(/still-42/);
    session.type('exit\r');
    assert.equal((await session.done()).payload.exit_code, 0);
  });

  it('ends every process of the session on session_close, also those that ignore HUP and TERM', async () => {
    const rig = shared;
    const session = new ShellSessionClient(rig.client, 's3');
    const marker = uniqueMarker();
    session.open({ rows: 24, cols: 80, ...BASH });
    await session.waitFor(/PROMPT> /);
    // A background job in a process group of its own, and a nohup'd one that ignores TERM too.
    session.type(`sleep ${marker} & (trap '' HUP TERM; nohup sleep ${marker} >/dev/null 2>&1 &)\r`);
    await waitFor(() => processesWith(marker).length === 2, 15_000);
    session.close();
    const done = await session.done();
    assert.equal(done.payload.closed, true);
    assert.equal(done.payload.exit_code, null);
    assert.deepEqual(processesWith(marker), []);
  });

  it('ends an idle session after shell.idleTimeoutS, and all of its processes', async (t) => {
    const rig = await shellRig(t, { IOTTLY_SHELL_IDLE_TIMEOUT_S: '1' });
    const session = new ShellSessionClient(rig.client, 's4');
    const marker = uniqueMarker();
    session.open({ rows: 24, cols: 80, ...BASH });
    await session.waitFor(/PROMPT> /);
    session.type(`sleep ${marker} &\r`);
    await waitFor(() => processesWith(marker).length === 1, 15_000);
    const done = await session.done(5_000);
    assert.equal(done.payload.idle, true);
    assert.deepEqual(processesWith(marker), []);
  });

  it('ends the session’s processes when the agent gets SIGTERM', async (t) => {
    const rig = await shellRig(t);
    const session = new ShellSessionClient(rig.client, 's5');
    const marker = uniqueMarker();
    session.open({ rows: 24, cols: 80, ...BASH });
    await session.waitFor(/PROMPT> /);
    session.type(`(trap '' HUP TERM; sleep ${marker}) & sleep ${marker}\r`);
    await waitFor(() => processesWith(marker).length >= 2, 15_000);
    const exit = await rig.agent.kill('SIGTERM');
    assert.equal(exit.code, 0);
    assert.deepEqual(processesWith(marker), []);
  });

  it('refuses a login shell under an allow list that does not name it, and with shell.enabled off', async (t) => {
    const rig = await shellRig(t, { IOTTLY_COMMANDS_ALLOW: '["^/bin/echo "]' });
    const login = new ShellSessionClient(rig.client, 'r1');
    login.open({ rows: 24, cols: 80 });
    const refused = await login.done();
    assert.equal((refused.payload.error as { code: string }).code, ErrorCode.shellDenied);
    // A session running what the allow list names is a command like any other.
    const echo = new ShellSessionClient(rig.client, 'r2');
    echo.open({ rows: 24, cols: 80, argv: ['/bin/echo', 'allowed'] });
    await echo.waitFor(/allowed/);
    assert.equal((await echo.done()).payload.exit_code, 0);

    // A cwd that is not there is named, not reported as script's ENOENT.
    const nowhere = new ShellSessionClient(rig.client, 'r4');
    nowhere.open({ rows: 24, cols: 80, argv: ['/bin/echo', 'x'], cwd: '/nonexistent-dir' });
    const failed = await nowhere.done();
    assert.match(
      String((failed.payload.error as { message: string }).message),
      /cwd "\/nonexistent-dir" does not exist/,
    );

    const off = await shellRig(t, { IOTTLY_SHELL_ENABLED: 'false' });
    const disabled = new ShellSessionClient(off.client, 'r3');
    disabled.open({ rows: 24, cols: 80, ...BASH });
    const done = await disabled.done();
    assert.equal((done.payload.error as { code: string }).code, ErrorCode.shellDenied);
  });

  it('survives a link cut of a couple of seconds with no output lost (binary frames)', async (t) => {
    let proxy: FaultProxy | null = null;
    const rig = await shellRig(
      t,
      {
        IOTTLY_HEARTBEAT_INTERVAL_MS: '500',
        IOTTLY_HEARTBEAT_TIMEOUT_MS: '1000',
        IOTTLY_RECONNECT_INITIAL_DELAY_MS: '200',
        IOTTLY_RECONNECT_MAX_DELAY_MS: '400',
      },
      async (hub) => {
        proxy = await FaultProxy.start(t, Number(new URL(hub.url).port));
        return `ws://127.0.0.1:${proxy.port}`;
      },
    );
    const cut = proxy as unknown as FaultProxy;
    const session = new ShellSessionClient(rig.client, 's6', 9);
    session.open({ rows: 24, cols: 80, ...BASH });
    await session.waitFor(/PROMPT> /);
    // A second session, whose client leaves during the cut: its terminal must not run on.
    const leaving = await connectClient(rig.hub.wsUrl);
    const orphan = new ShellSessionClient(leaving, 's7');
    const marker = uniqueMarker();
    orphan.open({ rows: 24, cols: 80, ...BASH });
    await orphan.waitFor(/PROMPT> /);
    orphan.type(`sleep ${marker}\r`);
    await waitFor(() => processesWith(marker).length === 1, 15_000);
    // Output made while the link is down: the spool keeps it and resends it after the welcome.
    session.type('sleep 1; seq 1 3000; echo END-OF-$((40+2))\r');
    await session.waitFor(/END-OF-\$\(\(40\+2\)\)\r\n/);
    cut.setMode('reset');
    await rig.agent.waitForLog((l) => l.status?.kind === 'backoff', 15_000);
    // Typed while the device is away: the hub holds it for the session until it is back.
    session.type('echo typed-$((40+3))\r');
    session.resize(30, 90);
    leaving.ws.terminate();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    cut.setMode('pass');
    await waitFor(() => processesWith(marker).length === 0, 15_000);
    await session.waitFor(/END-OF-42\r\n/, 10_000);
    await session.waitFor(/typed-43\r\n/);
    session.type('stty size\r');
    await session.waitFor(/[\r\n]30 90\r\n/);
    // The terminal echoes the keys typed ahead as they arrive, maybe in the middle of a number.
    const screen = session.screen.split('echo typed-$((40+3))\r\n').join('');
    const numbers = screen.match(/^\d+\r$/gm)?.map((line) => Number(line.trim()));
    assert.deepEqual(
      numbers,
      Array.from({ length: 3000 }, (_, i) => i + 1),
    );
    session.type('exit 3\r');
    assert.equal((await session.done()).payload.exit_code, 3);
  });
});
