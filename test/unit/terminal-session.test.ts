import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  TerminalSession,
  type TerminalDeps,
  type TerminalResult,
} from '../../src/commands/shell/terminal-session.js';
import { FakeClock } from '../helpers/fake-clock.js';

/**
 * The terminal session's lifecycle with a fake `script`, a fake /proc and a fake clock: which
 * processes get which signal when, and what the result says. The real pty is in
 * test/integration/shell-sessions.test.ts.
 */
const SCRIPT = 100;
const SHELL = 101;
const JOB = 102;

class FakeScript extends EventEmitter {
  readonly pid = SCRIPT;
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;

  end(code: number | null, signal: NodeJS.Signals | null): void {
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
    this.emit('close', code, signal);
  }
}

function rig(ignoresTerm: number[]) {
  const clock = new FakeClock();
  const script = new FakeScript();
  const live = new Set([SCRIPT, SHELL, JOB]);
  const signals: string[] = [];
  const sizes: string[] = [];
  const deps: TerminalDeps = {
    clock,
    spawn: () => script as unknown as ChildProcess,
    kill: (pid, signal) => {
      if (!live.has(pid)) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
      signals.push(`${pid}:${signal}`);
      if (signal === 'SIGKILL' || (signal === 'SIGTERM' && !ignoresTerm.includes(pid))) {
        live.delete(pid);
        if (pid === SCRIPT) script.end(null, signal);
      }
    },
    proc: {
      fdTargets: (pid) => (pid === SCRIPT ? ['/dev/ptmx', '/dev/pts/7'] : []),
      firstChild: (pid) => (pid === SCRIPT ? SHELL : null),
      members: () => [...live].filter((pid) => pid !== SCRIPT || script.exitCode === null),
    },
    setSize: async (tty, size) => void sizes.push(`${tty} ${size.rows}x${size.cols}`),
    scriptPath: '/usr/bin/script',
    sttyPath: '/bin/stty',
  };
  return { clock, script, live, signals, sizes, deps };
}

/** Advances the fake clock until the result settles (the end is polled every 10 ms). */
async function settle(clock: FakeClock, result: Promise<TerminalResult>): Promise<TerminalResult> {
  let done: TerminalResult | null = null;
  void result.then((r) => (done = r));
  for (let i = 0; i < 1000 && done === null; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(10);
  }
  assert.ok(done, 'the session never ended');
  return done;
}

const spec = {
  programLine: 'exec /bin/bash -l',
  size: { rows: 24, cols: 80 },
  env: {},
  idleTimeoutMs: 0,
  killGraceMs: 500,
};

describe('TerminalSession', () => {
  it('sets the size in the line before the program, then on the slave found in /proc', async () => {
    const r = rig([]);
    let argv: readonly string[] = [];
    const session = TerminalSession.start(
      spec,
      { ...r.deps, spawn: (_file, args) => ((argv = args), r.script as unknown as ChildProcess) },
      () => {},
    );
    assert.equal(argv[4], '/bin/stty rows 24 cols 80; exec /bin/bash -l');
    assert.equal(session.tty, '/dev/pts/7');
    session.resize({ rows: 50, cols: 150 });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(r.sizes, ['/dev/pts/7 50x150']);
    session.close();
    await settle(r.clock, session.result);
  });

  it('on close: HUP and TERM to every member, KILL after the grace to what is left', async () => {
    const r = rig([SHELL]); // an interactive shell ignores SIGTERM
    const session = TerminalSession.start(spec, r.deps, () => {});
    session.close();
    assert.deepEqual(r.signals.sort(), [
      `${SCRIPT}:SIGHUP`,
      `${SCRIPT}:SIGTERM`,
      `${SHELL}:SIGHUP`,
      `${SHELL}:SIGTERM`,
      `${JOB}:SIGHUP`,
      `${JOB}:SIGTERM`,
    ]);
    r.clock.advance(499);
    assert.ok(r.live.has(SHELL), 'no SIGKILL before the grace');
    const result = await settle(r.clock, session.result);
    assert.ok(r.signals.includes(`${SHELL}:SIGKILL`));
    assert.equal(r.live.size, 0);
    assert.equal(result.closed, true);
    assert.equal(result.exitCode, null);
  });

  it('ends an idle session after its timeout; traffic resets the timer', async () => {
    const r = rig([]);
    const session = TerminalSession.start({ ...spec, idleTimeoutMs: 1_000 }, r.deps, () => {});
    r.clock.advance(900);
    assert.equal(session.write(Buffer.from('x')), true);
    r.clock.advance(900);
    assert.equal(r.signals.length, 0, 'a keystroke kept it alive');
    r.clock.advance(100);
    const result = await settle(r.clock, session.result);
    assert.equal(result.idle, true);
    assert.equal(r.live.size, 0);
  });

  it('steady traffic keeps a session alive past many timeouts; it ends one timeout after the last', async () => {
    const r = rig([]);
    const session = TerminalSession.start({ ...spec, idleTimeoutMs: 1_000 }, r.deps, () => {});
    for (let i = 0; i < 10; i++) {
      r.clock.advance(400);
      assert.equal(session.write(Buffer.from('x')), true);
    }
    r.clock.advance(999);
    assert.equal(r.signals.length, 0, 'still within the timeout of the last keystroke');
    r.clock.advance(1);
    const result = await settle(r.clock, session.result);
    assert.equal(result.idle, true);
  });

  it('reports the program’s exit status and ends what it left behind', async () => {
    const r = rig([]);
    const session = TerminalSession.start(spec, r.deps, () => {});
    r.live.delete(SHELL);
    r.live.delete(SCRIPT);
    r.script.end(7, null); // the shell exited 7; its job is still running
    const result = await settle(r.clock, session.result);
    assert.equal(result.exitCode, 7);
    assert.equal(result.closed, false);
    assert.ok(r.signals.includes(`${JOB}:SIGTERM`));
    assert.equal(r.live.size, 0);
  });

  it('drops keystrokes once the input waiting for script is over its bound', () => {
    const r = rig([]);
    const session = TerminalSession.start(spec, r.deps, () => {});
    r.script.stdin.pause();
    let accepted = 0;
    while (session.write(Buffer.alloc(64 * 1024)) && accepted < 100) accepted++;
    assert.ok(accepted < 100, 'input is bounded');
    session.close(0);
  });
});
