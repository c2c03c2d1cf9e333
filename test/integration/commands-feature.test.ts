import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveRunAs } from '../../src/config/run-as.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { waitFor } from '../helpers/ws.js';
import {
  CommandsHarness,
  openFds,
  processesWith,
  rebuild,
  uniqueMarker,
  zombiesOf,
} from '../helpers/commands-harness.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * The commands feature with real child processes, frames in through a real Router and out
 * through `emit` (no socket): outputs, ends, limits, policy, stdin and the process tree.
 */
/** The program name of a process (its comm), or '' once it is gone. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

describe('commands feature', () => {
  it('separates stdout from stderr and reports exit code 3 with the new fields', async (t) => {
    const h = new CommandsHarness(t);
    const r = await h.run('c1', {
      command: "printf 'a\\nb\\n'; echo err >&2; exit 3",
      stream_output: true,
    });
    assert.equal(r.stdout.toString(), 'a\nb\n');
    assert.equal(r.stderr.toString(), 'err\n');
    assert.equal(r.end.type, 'command_done');
    const { duration_ms, ...rest } = r.end.payload;
    assert.deepEqual(rest, {
      exit_code: 3,
      signal: null,
      timed_out: false,
      cancelled: false,
      truncated: false,
    });
    assert.equal(typeof duration_ms, 'number');
  });

  it('reports exit codes 0 and 1, and death by a signal as exit_code null', async (t) => {
    const h = new CommandsHarness(t);
    assert.equal((await h.run('e0', { command: 'true' })).end.payload.exit_code, 0);
    assert.equal((await h.run('e1', { argv: ['false'] })).end.payload.exit_code, 1);
    const killed = await h.run('sig', { command: 'kill -USR1 $$' });
    assert.equal(killed.end.payload.exit_code, null);
    assert.equal(killed.end.payload.signal, 'SIGUSR1');
  });

  it('runs argv without a shell, with cwd and env, and without the agent’s IOTTLY_ secrets', async (t) => {
    const h = new CommandsHarness(t, {}, { KEEP: 'yes' });
    const r = await h.run('argv', {
      argv: ['sh', '-c', 'pwd; echo "$KEEP $EXTRA ${IOTTLY_AUTH_TOKEN:-none}"', '$(x)'],
      cwd: '/tmp',
      env: { EXTRA: 'x y' },
    });
    assert.equal(r.stdout.toString(), '/tmp\nyes x y none\n');
  });

  it('answers a program or cwd that does not exist with command_failed', async (t) => {
    const h = new CommandsHarness(t);
    const a = await h.run('nf', { argv: ['/no/such/program'] });
    assert.equal(a.end.type, 'error');
    assert.equal(a.end.payload.code, ErrorCode.commandFailed);
    const b = await h.run('cwd', { command: 'true', cwd: '/no/such/dir' });
    assert.equal(b.end.payload.code, ErrorCode.commandFailed);
  });

  it('names the cwd in command_failed when it is missing or not a directory', async (t) => {
    const h = new CommandsHarness(t);
    const dir = tempDir('cmd-cwd-', t);
    writeFileSync(join(dir, 'file'), '');
    for (const [id, payload, expected] of [
      ['sh', { command: 'true', cwd: '/no/such/dir' }, /cwd "\/no\/such\/dir" does not exist/],
      ['argv', { argv: ['true'], cwd: '/no/such/dir' }, /cwd "\/no\/such\/dir" does not exist/],
      ['pty', { command: 'true', pty: true, cwd: '/no/such/dir' }, /does not exist/],
      ['file', { command: 'true', cwd: join(dir, 'file') }, /cwd ".*\/file" is not a directory/],
    ] as const) {
      const r = await h.run(id, payload);
      assert.equal(r.end.payload.code, ErrorCode.commandFailed, id);
      assert.match(String(r.end.payload.message), expected, id);
      assert.doesNotMatch(String(r.end.payload.message), /spawn/, id);
    }
  });

  it('looks argv[0] up in the agent’s PATH, never in the request’s env.PATH', async (t) => {
    const dir = tempDir('cmd-path-', t);
    const marker = join(dir, 'fake-ran');
    writeFileSync(join(dir, 'ls'), `#!/bin/sh\ntouch ${marker}\necho fake\n`);
    chmodSync(join(dir, 'ls'), 0o755);
    const h = new CommandsHarness(t);
    const r = await h.run('ls', { argv: ['ls', '-d', '/'], env: { PATH: dir } });
    assert.equal(r.end.payload.exit_code, 0);
    assert.equal(r.stdout.toString(), '/\n');
    assert.equal(existsSync(marker), false, 'the fake ls ran');
    // The request's PATH still reaches the program it started.
    const seen = await h.run('env', { argv: ['printenv', 'PATH'], env: { PATH: dir } });
    assert.equal(seen.stdout.toString(), `${dir}\n`);
    const missing = await h.run('nf', { argv: ['no-such-program-here'] });
    assert.equal(missing.end.payload.code, ErrorCode.commandFailed);
    assert.match(
      String(missing.end.payload.message),
      /"no-such-program-here" not found in the agent's PATH/,
    );
  });

  it('refuses, under a policy, an env that could change the program, and passes allowed names', async (t) => {
    const dir = tempDir('cmd-env-', t);
    const marker = join(dir, 'fake-ran');
    writeFileSync(join(dir, 'ls'), `#!/bin/sh\ntouch ${marker}\n`);
    chmodSync(join(dir, 'ls'), 0o755);
    const h = new CommandsHarness(t, { allow: ['^ls( |$)', '^printenv$'] });
    const fake = await h.run('path', { argv: ['ls'], env: { PATH: dir } });
    assert.equal(fake.end.payload.code, ErrorCode.commandDenied);
    assert.match(String(fake.end.payload.message), /env "PATH"/);
    const bash = await h.run('bash', {
      command: 'ls',
      pty: true,
      env: { SHELL: '/bin/bash', BASH_ENV: `$(touch ${marker})` },
    });
    assert.equal(bash.end.payload.code, ErrorCode.commandDenied);
    assert.match(String(bash.end.payload.message), /env "SHELL"/);
    const other = await h.run('other', { argv: ['ls'], env: { APP_MODE: '1' } });
    assert.match(String(other.end.payload.message), /env "APP_MODE" is not in commands.allowEnv/);
    assert.equal(existsSync(marker), false);
    const allowed = await h.run('ok', {
      argv: ['printenv'],
      env: { LANG: 'C.UTF-8', TZ: 'Europe/Rome', LC_TIME: 'C', NO_COLOR: '1' },
    });
    assert.equal(allowed.end.payload.exit_code, 0);
    const printed = allowed.stdout.toString().split('\n');
    for (const line of ['LANG=C.UTF-8', 'TZ=Europe/Rome', 'LC_TIME=C', 'NO_COLOR=1'])
      assert.ok(printed.includes(line), line);
  });

  it('times out a tree of sleeps: SIGTERM to the whole group, nothing left', async (t) => {
    const h = new CommandsHarness(t);
    const marker = uniqueMarker();
    const started = Date.now();
    const r = await h.run('to', { command: `sleep ${marker} & sleep ${marker}`, timeout_s: 0.5 });
    const elapsed = Date.now() - started;
    assert.equal(r.end.payload.timed_out, true);
    assert.equal(r.end.payload.signal, 'SIGTERM');
    // Not before its 0.5 s; long before the sleeps end (3000 s), with seconds to spare on a
    // loaded machine.
    assert.ok(elapsed >= 500 && elapsed < 10_000, `ended after ${elapsed} ms`);
    assert.deepEqual(processesWith(marker), []);
  });

  it('sends SIGKILL after the grace to a child that ignores SIGTERM', async (t) => {
    const h = new CommandsHarness(t, { killGraceMs: 200 });
    const marker = uniqueMarker();
    const started = Date.now();
    const r = await h.run('ign', {
      command: `trap '' TERM; sleep ${marker}; echo survived`,
      timeout_s: 0.3,
    });
    assert.equal(r.end.payload.signal, 'SIGKILL');
    assert.equal(r.end.payload.timed_out, true);
    assert.ok(Date.now() - started >= 500);
    assert.equal(r.stdout.toString(), '');
    assert.deepEqual(processesWith(marker), []);
  });

  it('cancels a running command by command_cancel (payload or envelope id)', async (t) => {
    const h = new CommandsHarness(t);
    const marker = uniqueMarker();
    h.send('command', { command: `echo started; sleep ${marker}`, stream_output: true }, 'k1');
    await h.next((e) => e.request_id === 'k1' && e.type === 'command_output');
    h.send('command_cancel', { request_id: 'k1' });
    const end = await h.end('k1');
    assert.equal(end.payload.cancelled, true);
    assert.equal(end.payload.timed_out, false);
    assert.deepEqual(processesWith(marker), []);
    h.send('command_cancel', {}, 'no-such'); // unknown: ignored, no error frame
    assert.equal(h.emitted.filter((e) => e.request_id === 'no-such').length, 0);
  });

  it('ends everything a finished command left in its group', async (t) => {
    const h = new CommandsHarness(t);
    const marker = uniqueMarker();
    const r = await h.run('bg', { command: `sleep ${marker} >/dev/null 2>&1 & echo hi` });
    assert.equal(r.end.payload.exit_code, 0);
    assert.equal(r.stdout.toString(), 'hi\n');
    assert.deepEqual(processesWith(marker), []);
  });

  it('caps the output: the group is ended and command_done says truncated', async (t) => {
    const h = new CommandsHarness(t, { maxOutputBytes: 100_000 });
    const r = await h.run('cap', { command: 'yes', stream_output: true });
    assert.equal(r.end.payload.truncated, true);
    assert.equal(r.stdout.length, 100_000);
    assert.ok(r.chunks.every((c) => (c.payload.chunk as string).length <= 64 * 1024));
  });

  it('refuses one command over maxConcurrent with busy, and ignores a command delivered again, running or ended', async (t) => {
    const h = new CommandsHarness(t, { maxConcurrent: 2 });
    const marker = uniqueMarker();
    h.send('command', { command: `sleep ${marker}` }, 'r1');
    h.send('command', { command: `sleep ${marker}` }, 'r1'); // the link's second delivery
    h.send('command', { command: `sleep ${marker}` }, 'r2');
    h.send('command', { command: `sleep ${marker}` }, 'r3');
    assert.equal((await h.end('r3')).payload.code, ErrorCode.busy);
    h.send('command_cancel', { request_id: 'r1' });
    h.send('command_cancel', { request_id: 'r2' });
    assert.equal((await h.end('r1')).payload.cancelled, true);
    assert.equal((await h.end('r2')).payload.cancelled, true);
    await waitFor(() => h.feature.runningCount === 0);
    // r1 again, after it ended: not run a second time either.
    h.send('command', { command: 'true' }, 'r1');
    assert.equal((await h.run('r4', { command: 'true' })).end.payload.exit_code, 0);
    const r1 = h.emitted.filter((e) => e.request_id === 'r1');
    assert.deepEqual(
      r1.map((e) => e.type),
      ['command_done'],
      'one command_done for r1, no error and no second run',
    );
  });

  it('applies allow, deny and the shell metacharacter rule before anything starts', async (t) => {
    const h = new CommandsHarness(t, { allow: ['^echo ', '^ls( |$)'], deny: ['secret'] });
    const outcome = async (id: string, payload: Record<string, unknown>): Promise<string> => {
      const end = await h.end((h.send('command', payload, id), id));
      return end.type === 'error' ? String(end.payload.code) : `exit ${end.payload.exit_code}`;
    };
    assert.equal(await outcome('p1', { command: 'echo hello' }), 'exit 0');
    assert.equal(await outcome('p2', { command: 'echo hi; rm -rf /tmp/x' }), 'command_denied');
    assert.equal(await outcome('p3', { command: 'echo $(id)' }), 'command_denied');
    assert.equal(await outcome('p4', { command: 'cat /etc/passwd' }), 'command_denied');
    assert.equal(await outcome('p5', { command: 'echo secret' }), 'command_denied');
    assert.equal(await outcome('p6', { argv: ['echo', 'a;b'] }), 'exit 0'); // no shell
    const shell = new CommandsHarness(t, { allow: ['^echo '], allowShell: true });
    const end = await shell.end((shell.send('command', { command: 'echo a; echo b' }, 's'), 's'));
    assert.equal(end.payload.exit_code, 0);
    const off = new CommandsHarness(t, { enabled: false });
    assert.deepEqual(off.feature.capabilities(), []);
    const denied = await off.end((off.send('command', { command: 'true' }, 'o'), 'o'));
    assert.equal(denied.payload.code, ErrorCode.commandDenied);
  });

  it('answers bad payloads with invalid_payload and the request_id', (t) => {
    const h = new CommandsHarness(t);
    const bad: Array<Record<string, unknown>> = [
      {},
      { command: 42 },
      { command: 'true', argv: ['true'] },
      { argv: [] },
      { argv: 'ls' },
      { command: 'true', timeout_s: 'soon' },
      { command: 'true', env: { A: 1 } },
      { command: 'true', env: { 'A=B': 'x' } },
      { command: 'true', stream_output: 'yes' },
    ];
    for (const [i, payload] of bad.entries()) h.send('command', payload, `bad${i}`);
    assert.equal(h.routerErrors.length, bad.length);
    for (const [i, error] of h.routerErrors.entries()) {
      assert.equal(error.code, ErrorCode.invalidPayload);
      assert.equal(error.request_id, `bad${i}`);
    }
    h.send('command', { command: 'true' }); // no request_id
    assert.equal(h.emitted.at(-1)?.payload.code, ErrorCode.invalidPayload);
  });

  it('survives a fuzz of random command payloads', async (t) => {
    const h = new CommandsHarness(t, { deny: ['.'] }); // nothing may actually run
    const values = [null, 0, -1, 1e300, '', 'x', [], ['a'], {}, { a: 1 }, true, 'ls -l'];
    const keys = ['command', 'argv', 'timeout_s', 'cwd', 'env', 'stdin', 'pty', 'stream_output'];
    let seed = 7;
    const pick = <T>(list: T[]): T => list[(seed = (seed * 48271) % 2147483647) % list.length] as T;
    for (let i = 0; i < 500; i++) {
      const payload: Record<string, unknown> = {};
      for (let k = 0; k < 3; k++) payload[pick(keys)] = pick(values);
      h.send('command', payload, `f${i}`);
      h.send(pick(['command_cancel', 'command_input']), {
        request_id: pick(values),
        data: pick(values),
      });
    }
    assert.equal(h.feature.runningCount, 0);
    assert.equal(
      (await new CommandsHarness(t).run('after', { command: 'echo ok' })).stdout.toString(),
      'ok\n',
    );
  });

  it('rebuilds non-UTF-8 and multi-byte characters cut across chunks byte for byte', async (t) => {
    const h = new CommandsHarness(t);
    // 3- and 4-byte characters at every offset of a 64 KiB border, then invalid bytes.
    const text = `${'x'.repeat(65_535)}€${'y'.repeat(65_534)}😀${'z'.repeat(10)}`;
    const expected = Buffer.concat([
      Buffer.from(text),
      Buffer.from([0xff, 0xfe, 0x41, 0xe2, 0x82]),
    ]);
    const file = join(tempDir('cmd-'), 'bytes');
    writeFileSync(file, expected);
    const r = await h.run('bin', { argv: ['cat', file], stream_output: true });
    assert.deepEqual(r.stdout, expected);
    const texts = r.chunks.filter((c) => c.payload.encoding === undefined);
    assert.ok(texts.length >= 2, 'the valid part went as text');
    assert.ok(r.chunks.some((c) => c.payload.encoding === 'base64'));
    for (const c of texts) assert.ok(!(c.payload.chunk as string).includes('\ufffd'));
  });

  it('streams 10 MiB in order, and unstreamed output whole at the end', async (t) => {
    const h = new CommandsHarness(t, { maxOutputBytes: 64 << 20 });
    const streamed = await h.run('big', { command: 'seq 1 1500000', stream_output: true });
    const lines = streamed.stdout.toString().split('\n');
    assert.ok(streamed.stdout.length > 10 << 20, `${streamed.stdout.length} bytes`);
    assert.equal(lines.length, 1_500_001);
    for (let i = 0; i < 1_500_000; i += 1) if (lines[i] !== String(i + 1)) assert.fail(`line ${i}`);
    const whole = await h.run('whole', { command: 'seq 1 100000; echo e >&2' });
    assert.equal(
      whole.stdout.toString(),
      `${Array.from({ length: 100_000 }, (_, i) => i + 1).join('\n')}\n`,
    );
    assert.equal(whole.stderr.toString(), 'e\n');
  });

  it('pauses the child while the outbox is backed up, and resumes on drain', async (t) => {
    const h = new CommandsHarness(t, { maxOutputBytes: 1 << 30 });
    h.outbox.backedUp = true;
    h.send(
      'command',
      { command: 'head -c 50000000 /dev/zero | tr "\\0" x', stream_output: true },
      'slow',
    );
    await h.next((e) => e.request_id === 'slow' && e.type === 'command_output');
    const received = (): number =>
      rebuild(
        h.emitted.filter((e) => e.request_id === 'slow'),
        'stdout',
      ).length;
    // While paused, only what the pipes and stream buffers held when the pause began can still
    // arrive. Wait until it stops coming (no growth over a quarter second), however slow the
    // machine: unpaused, all 50 MB would come and the bound below would fail.
    let settled = received();
    for (const deadline = Date.now() + 20_000; ;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (received() === settled) break;
      settled = received();
      assert.ok(Date.now() < deadline, `still ${settled} bytes and growing while backed up`);
    }
    assert.ok(settled < 1 << 20, `${settled} bytes passed a backed-up outbox`);
    h.outbox.drain();
    const end = await h.end('slow', 20_000);
    assert.equal(end.payload.exit_code, 0);
    assert.equal(received(), 50_000_000);
  });

  it('feeds stdin from command_input (text, base64, eof)', async (t) => {
    const h = new CommandsHarness(t);
    h.send('command', { command: 'cat; echo done', stream_output: true, stdin: true }, 'in');
    h.send('command_input', { request_id: 'in', data: 'hello ' });
    h.send('command_input', {
      request_id: 'in',
      data: Buffer.from([0xe2, 0x82, 0xac]).toString('base64'),
      encoding: 'base64',
    });
    h.send('command_input', { request_id: 'in', eof: true });
    const end = await h.end('in');
    assert.equal(end.payload.exit_code, 0);
    assert.equal(
      rebuild(
        h.emitted.filter((e) => e.request_id === 'in'),
        'stdout',
      ).toString(),
      'hello €done\n',
    );
  });

  it('gives a command without stdin: true an empty stdin (it cannot hang reading)', async (t) => {
    const h = new CommandsHarness(t);
    assert.equal((await h.run('nostdin', { command: 'cat; echo $?' })).stdout.toString(), '0\n');
  });

  it('runs commands as commands.user / commands.group when the agent is root', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root');
    const runAs = resolveRunAs('nobody', 'nogroup', { currentUid: 0 });
    const h = new CommandsHarness(t, {}, {}, runAs);
    const r = await h.run('user', { command: 'echo "$(id -u):$(id -g) $USER $HOME"' });
    assert.equal(r.stdout.toString(), `${runAs?.uid}:${runAs?.gid} nobody ${runAs?.home}\n`);
  });

  it('runs pty: true under a pseudo-terminal', async (t) => {
    const h = new CommandsHarness(t);
    const r = await h.run('pty', { command: 'test -t 1 && echo tty; exit 4', pty: true });
    assert.equal(r.end.payload.exit_code, 4);
    assert.match(r.stdout.toString(), /^tty\r?\n$/);
  });

  it('runs pty: true under /bin/sh whatever SHELL the request sends', async (t) => {
    const dir = tempDir('cmd-pty-', t);
    const marker = join(dir, 'bash-env-ran');
    const h = new CommandsHarness(t); // no policy: the shell is fixed anyway
    const r = await h.run('pty-shell', {
      command: 'readlink /proc/$$/exe; true',
      pty: true,
      env: { SHELL: '/bin/bash', BASH_ENV: `$(touch ${marker})` },
    });
    assert.equal(r.end.payload.exit_code, 0);
    assert.equal(r.stdout.toString().trim(), realpathSync('/bin/sh'));
    assert.equal(existsSync(marker), false, 'BASH_ENV was sourced');
  });

  it('stop() ends every running group', async (t) => {
    const h = new CommandsHarness(t);
    const marker = uniqueMarker();
    const stubborn = uniqueMarker();
    h.send('command', { command: `sleep ${marker} & sleep ${marker}` }, 's1');
    h.send('command', { command: `trap '' TERM; sleep ${stubborn}` }, 's2');
    // s2's shell carries the marker in its own command line before it has set the trap: wait for
    // its sleep, which it starts only after the trap is in place.
    const sleeping = (m: string) => processesWith(m).filter((pid) => commandOf(pid) === 'sleep');
    await waitFor(() => sleeping(marker).length >= 2 && sleeping(stubborn).length >= 1);
    await h.feature.stop();
    assert.equal((await h.end('s1')).payload.cancelled, true);
    assert.equal((await h.end('s2')).payload.signal, 'SIGKILL');
    assert.deepEqual([...processesWith(marker), ...processesWith(stubborn)], []);
    const refused = await h.end((h.send('command', { command: 'true' }, 'late'), 'late'));
    assert.equal(refused.payload.code, ErrorCode.busy);
  });

  it('runs 1000 commands in a row without zombies, and the fd count returns to the start', async (t) => {
    const h = new CommandsHarness(t);
    await h.run('warm', { command: 'true' });
    const fdsBefore = openFds().length;
    for (let i = 0; i < 1000; i++) {
      const end = await h.end((h.send('command', { argv: ['true'] }, `n${i}`), `n${i}`));
      assert.equal(end.payload.exit_code, 0);
    }
    assert.deepEqual(zombiesOf(process.pid), []);
    await waitFor(() => openFds().length <= fdsBefore);
    h.emitted.length = 0;
  });
});
