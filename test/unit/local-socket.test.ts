import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CommandActionRunner, type ActionLimits } from '../../src/local/action-runner.js';
import { socketPathFor } from '../../src/roots/local-apps-wiring.js';
import { prepareSocketPath, resolveGroup } from '../../src/local/socket-file.js';
import { processesWith, uniqueMarker } from '../helpers/commands-harness.js';
import { realCommandRunner } from '../helpers/real-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'iottly-sock-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the socket file', () => {
  it('removes a socket left by a crashed process', async () => {
    const path = join(dir, 'stale.sock');
    // A process that listens and is killed leaves its socket file behind.
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(statSync(path).isSocket(), 'a stale socket file is left');
    assert.deepEqual(await prepareSocketPath(path), { removedStale: true });
  });

  it('refuses a socket some process still serves', async (t) => {
    const path = join(dir, 'live.sock');
    const server = createServer();
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    await assert.rejects(prepareSocketPath(path), { code: 'socket_in_use' });
  });

  it('never deletes a file that is not a socket', async () => {
    const path = join(dir, 'precious.txt');
    writeFileSync(path, 'keep me');
    await assert.rejects(prepareSocketPath(path), { code: 'socket_path_occupied' });
    assert.equal(readFileSync(path, 'utf8'), 'keep me');
  });

  it('creates a missing parent folder', async () => {
    assert.deepEqual(await prepareSocketPath(join(dir, 'a', 'b', 'sdk.sock')), {
      removedStale: false,
    });
    assert.ok(statSync(join(dir, 'a', 'b')).isDirectory(), 'parent created');
  });

  it('resolves the path from the config, else RUNTIME_DIRECTORY, else /run', () => {
    assert.equal(socketPathFor('/x/s', { RUNTIME_DIRECTORY: '/r' }), '/x/s');
    assert.equal(socketPathFor('', { RUNTIME_DIRECTORY: '/run/a:/run/b' }), '/run/a/sdk.sock');
    assert.equal(socketPathFor('', {}), '/run/iottly-agent/sdk.sock');
  });

  it('resolves a group by name or number', () => {
    const groups = () => 'root:x:0:\niottly:x:991:pi\n';
    assert.equal(resolveGroup('', groups), null);
    assert.equal(resolveGroup('42', groups), 42);
    assert.equal(resolveGroup('iottly', groups), 991);
    assert.throws(() => resolveGroup('nobody-here', groups), /no group "nobody-here"/);
  });
});

describe('CommandActionRunner', () => {
  const runner = (limits: Partial<ActionLimits> = {}) =>
    new CommandActionRunner({
      runner: realCommandRunner(),
      limits: {
        timeoutMs: 5_000,
        killGraceMs: 200,
        maxOutputBytes: 1_000,
        maxConcurrent: 1,
        ...limits,
      },
      baseEnv: { PATH: process.env.PATH ?? '' },
      runAs: null,
    });

  it('runs the command line with the call args in the environment', async () => {
    const result = await runner().run(
      {
        commandLine: 'printf "%s" "$IOTTLY_CALL_ARGS"; printf oops >&2; exit 3',
        env: { IOTTLY_CALL_ARGS: '{"a":1}' },
      },
      new AbortController().signal,
    );
    assert.deepEqual(result, {
      exitCode: 3,
      signal: null,
      timedOut: false,
      truncated: false,
      stdout: '{"a":1}',
      stderr: 'oops',
    });
  });

  it('ends the whole process group at the time limit', async () => {
    const marker = uniqueMarker();
    // The shell lets go of the output pipe (else the result would wait for the sleeps to close
    // it), forks a sleep and sleeps itself: signalling the shell alone would leave both running.
    const result = await runner({ timeoutMs: 200 }).run(
      { commandLine: `exec >/dev/null 2>&1; sleep ${marker} & sleep ${marker}; wait`, env: {} },
      new AbortController().signal,
    );
    assert.equal(result.timedOut, true);
    assert.deepEqual(processesWith(marker), [], 'a process of the group is still running');
  });

  it('keeps at most maxOutputBytes and says it truncated', async () => {
    const result = await runner().run(
      { commandLine: 'head -c 5000 /dev/zero | tr "\\0" x', env: {} },
      new AbortController().signal,
    );
    assert.ok(result.stdout.length <= 1_000, 'output capped');
    assert.equal(result.truncated, true);
  });

  it('refuses more than maxConcurrent at once', async () => {
    const r = runner();
    const abort = new AbortController();
    const first = r.run({ commandLine: 'sleep 30', env: {} }, abort.signal);
    await assert.rejects(r.run({ commandLine: 'true', env: {} }, abort.signal), { code: 'busy' });
    abort.abort();
    assert.equal((await first).signal, 'SIGTERM');
  });
});
