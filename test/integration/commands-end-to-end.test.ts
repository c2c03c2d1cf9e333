import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { childrenOf, processesWith, rebuild, uniqueMarker } from '../helpers/commands-harness.js';
import { startFakeHub } from '../helpers/fake-hub.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import {
  DEVICE_ID,
  DEVICE_TOKEN,
  connectClient,
  startHub,
  waitFor,
  type Frame,
  type Peer,
  type TestHub,
} from '../helpers/ws.js';

/**
 * Remote commands from a `/v1/stream` client through the reference hub to the agent spawned as
 * a process, and back: the "done when", cancel, a client that leaves, and shutdown.
 */
function runAgent(owner: Owner, wsUrl: string, env: Record<string, string> = {}): AgentProcess {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: `${wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_LOG_LEVEL: 'debug',
    IOTTLY_COMMANDS_KILL_GRACE_MS: '300',
    ...env,
  });
}

/** Sends a command and collects its frames up to the final one. */
async function command(
  client: Peer,
  requestId: string,
  payload: Record<string, unknown>,
  timeoutMs = 5_000,
): Promise<{ frames: Frame[]; end: Frame }> {
  client.send({
    type: 'command',
    request_id: requestId,
    payload: { device_id: DEVICE_ID, ...payload },
  });
  const frames: Frame[] = [];
  for (;;) {
    const frame = await client.inbox.next((f) => f.request_id === requestId, timeoutMs);
    frames.push(frame);
    if (frame.type === 'command_done' || frame.type === 'error') return { frames, end: frame };
  }
}

function output(frames: Frame[], fd: string): string {
  return rebuild(
    frames.filter((f) => f.type === 'command_output') as Parameters<typeof rebuild>[0],
    fd,
  ).toString();
}

/**
 * A hub, an agent run with `env` (online) and a stream client, all the test's own: a command a
 * failed test left running cannot reach the next test, nor can an agent it stopped.
 */
async function commandRig(
  t: Owner,
  env: Record<string, string>,
): Promise<{ hub: TestHub; agent: AgentProcess; client: Peer }> {
  const hub = await startHub(t);
  const agent = runAgent(t, hub.wsUrl, env);
  await agent.waitForLog(statusIs('online'));
  return { hub, agent, client: await connectClient(hub.wsUrl) };
}

describe('remote commands end to end', () => {
  const env = { IOTTLY_COMMANDS_DENY: '["^reboot"]', IOTTLY_COMMANDS_MAX_CONCURRENT: '3' };

  it('yields stdout, stderr and exit_code 3 with the client’s request_id', async (t) => {
    const rig = await commandRig(t, env);
    const { frames, end } = await command(rig.client, 'cmd-1', {
      command: "printf 'a\\nb\\n'; echo err >&2; exit 3",
      stream_output: true,
    });
    assert.equal(output(frames, 'stdout'), 'a\nb\n');
    assert.equal(output(frames, 'stderr'), 'err\n');
    assert.equal(end.type, 'command_done');
    assert.equal(end.payload.exit_code, 3);
    assert.equal(end.payload.timed_out, false);
  });

  it('times out a tree of sleeps after 1 s and leaves no process', async (t) => {
    const rig = await commandRig(t, env);
    const marker = uniqueMarker();
    const started = Date.now();
    const { end } = await command(rig.client, 'slow', {
      command: `sleep ${marker} & sleep ${marker}`,
      timeout_s: 1,
    });
    const elapsed = Date.now() - started;
    assert.equal(end.payload.timed_out, true);
    // Not before its 1 s; long before the sleeps end (3000 s), with seconds
    // to spare on a loaded machine.
    assert.ok(elapsed >= 1_000 && elapsed < 10_000, `done after ${elapsed} ms`);
    assert.deepEqual(processesWith(marker), []);
  });

  it('cancels by command_cancel from the client', async (t) => {
    const rig = await commandRig(t, env);
    const marker = uniqueMarker();
    rig.client.send({
      type: 'command',
      request_id: 'c2',
      payload: { device_id: DEVICE_ID, command: `echo go; sleep ${marker}`, stream_output: true },
    });
    await rig.client.inbox.next((f) => f.request_id === 'c2' && f.type === 'command_output');
    rig.client.send({ type: 'command_cancel', payload: { request_id: 'c2' } });
    const end = await rig.client.inbox.next(
      (f) => f.request_id === 'c2' && f.type === 'command_done',
    );
    assert.equal(end.payload.cancelled, true);
    assert.deepEqual(processesWith(marker), []);
  });

  it('drives stdin with command_input', async (t) => {
    const rig = await commandRig(t, env);
    rig.client.send({
      type: 'command',
      request_id: 'in',
      payload: {
        device_id: DEVICE_ID,
        command: 'read line; echo "got $line"',
        stdin: true,
        stream_output: true,
      },
    });
    rig.client.send({ type: 'command_input', request_id: 'in', payload: { data: 'hello\n' } });
    const out = await rig.client.inbox.next(
      (f) => f.request_id === 'in' && f.type === 'command_output',
    );
    assert.equal(out.payload.chunk, 'got hello\n');
  });

  it('answers refused and malformed commands with error frames, and keeps running', async (t) => {
    const rig = await commandRig(t, env);
    const denied = await command(rig.client, 'deny', { command: 'reboot now' });
    assert.equal(denied.end.payload.code, ErrorCode.commandDenied);
    await rig.agent.waitForLog(
      (l) => l.code === ErrorCode.commandDenied && l.request_id !== undefined,
    );
    const bad = await command(rig.client, 'bad', { command: 42 });
    assert.equal(bad.end.payload.code, ErrorCode.invalidPayload);
    assert.match(String(bad.end.payload.message), /payload.command/);
    const unknown = await (async () => {
      rig.client.send({
        type: 'command_cancel',
        request_id: 'x',
        payload: { request_id: 'nothing' },
      });
      return rig.client.inbox.next((f) => f.request_id === 'x');
    })();
    assert.equal(unknown.payload.code, ErrorCode.unknownRequest);
    assert.equal(
      (await command(rig.client, 'alive', { command: 'echo ok' })).end.payload.exit_code,
      0,
    );
  });

  it('cancels the command on the device when its client disconnects', async (t) => {
    const rig = await commandRig(t, env);
    const marker = uniqueMarker();
    const leaving = await connectClient(rig.hub.wsUrl);
    leaving.send({
      type: 'command',
      request_id: 'gone',
      payload: { device_id: DEVICE_ID, command: `echo go; sleep ${marker}`, stream_output: true },
    });
    await leaving.inbox.next((f) => f.type === 'command_output');
    const cancelledBefore = rig.agent.logs.filter((l) => l.cancelled === true).length;
    leaving.ws.terminate(); // the subject: the client leaves
    await waitFor(
      () => rig.agent.logs.filter((l) => l.cancelled === true).length > cancelledBefore,
    );
    assert.deepEqual(processesWith(marker), []);
  });

  it('ends every running group when the agent gets SIGTERM, and leaves no zombie', async (t) => {
    const rig = await commandRig(t, env);
    const marker = uniqueMarker();
    for (const id of ['t1', 't2']) {
      rig.client.send({
        type: 'command',
        request_id: id,
        payload: {
          device_id: DEVICE_ID,
          command: `trap '' TERM; sleep ${marker} & sleep ${marker}`,
        },
      });
    }
    // Each shell (its command line holds the marker too) and its two sleeps.
    await waitFor(() => processesWith(marker).length === 6, 5_000);
    const shells = childrenOf(rig.agent.child.pid as number);
    assert.equal(shells.length, 2);
    const exit = await rig.agent.kill('SIGTERM'); // the subject
    assert.equal(exit.code, 0);
    assert.deepEqual(processesWith(marker), []);
    // The agent reaped both shells before it exited: it logged how each ended, which only the
    // wait for a child tells. A shell it left unreaped would now be a zombie of init; an init
    // that reaps (unlike this VM's) hides that, so the log is checked as well as /proc.
    const logs = rig.agent.logs;
    const ours = logs
      .filter((l) => l.msg === 'command started' && String(l.command).includes(marker))
      .map((l) => l.request_id);
    const ended = logs.filter((l) => l.msg === 'command done' && ours.includes(l.request_id));
    assert.equal(ours.length, 2);
    assert.deepEqual(
      ended.map((l) => l.signal),
      ['SIGKILL', 'SIGKILL'],
    );
    assert.deepEqual(
      shells.filter((pid) => existsSync(`/proc/${pid}`)),
      [],
      'a shell is left as a zombie',
    );
  });
});

describe('remote commands under an allow list (issue 13, finding 1)', () => {
  const env = { IOTTLY_COMMANDS_ALLOW: '["^ls( |$)"]' };

  it('does not run what BASH_ENV names when a pty request sends SHELL=/bin/bash', async (t) => {
    const rig = await commandRig(t, env);
    const dir = tempDir('cmd-policy-', t);
    const marker = join(dir, 'id-ran');
    const { end } = await command(rig.client, 'bash-env', {
      command: 'ls',
      pty: true,
      env: { SHELL: '/bin/bash', BASH_ENV: `$(id>${marker})` },
    });
    assert.equal(end.type, 'error');
    assert.equal(end.payload.code, ErrorCode.commandDenied);
    assert.match(String(end.payload.message), /env "SHELL"/);
    await rig.agent.waitForLog(
      (l) => l.code === ErrorCode.commandDenied && l.request_id !== undefined,
    );
    assert.equal(existsSync(marker), false, 'id ran');
  });

  it('does not run a fake ls from the request’s env.PATH', async (t) => {
    const rig = await commandRig(t, env);
    const dir = tempDir('cmd-policy-', t);
    const marker = join(dir, 'fake-ls-ran');
    writeFileSync(join(dir, 'ls'), `#!/bin/sh\ntouch ${marker}\n`);
    chmodSync(join(dir, 'ls'), 0o755);
    const { end } = await command(rig.client, 'fake-ls', { argv: ['ls'], env: { PATH: dir } });
    assert.equal(end.payload.code, ErrorCode.commandDenied);
    assert.match(String(end.payload.message), /env "PATH"/);
    assert.equal(existsSync(marker), false, 'the fake ls ran');
    const real = await command(rig.client, 'real-ls', {
      argv: ['ls', '-d', dir],
      env: { LANG: 'C' },
    });
    assert.equal(real.end.payload.exit_code, 0);
    assert.equal(output(real.frames, 'stdout'), `${dir}\n`);
  });
});

describe('remote commands over a slow link', () => {
  it('keeps the agent’s memory flat while the hub stops reading a flood of output', async (t) => {
    const hub = await startFakeHub(t);
    const connected = hub.nextConnection();
    const agent = runAgent(t, hub.url.replace(/\/v1\/device$/, ''), {
      IOTTLY_COMMANDS_MAX_OUTPUT_BYTES: String(1 << 30),
    });
    const link = await connected;
    await link.nextFrame((f) => f.type === 'hello');
    await agent.waitForLog(statusIs('online'));
    // The hub stops reading: the agent's socket fills, its outbox backs up, the child blocks.
    const tcp = (link.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    link.socket.send(
      JSON.stringify({
        type: 'command',
        request_id: 'flood',
        payload: { command: 'yes', stream_output: true },
      }),
    );
    const rss = (): number => {
      const status = readFileSync(`/proc/${agent.child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) * 1024;
    };
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 150));
      samples.push(rss());
    }
    const peak = Math.max(...samples);
    assert.ok(peak < 150 << 20, `agent RSS reached ${(peak / 1048576).toFixed(0)} MiB`);
    // The last samples grow no more: the flood is held at the child's pipe.
    assert.ok(samples[9]! - samples[4]! < 8 << 20, `RSS still growing: ${samples.join(', ')}`);
    link.socket.send(JSON.stringify({ type: 'command_cancel', payload: { request_id: 'flood' } }));
    tcp.resume();
    await link.nextFrame((f) => f.type === 'command_done' && f.request_id === 'flood', 10_000);
  });
});
