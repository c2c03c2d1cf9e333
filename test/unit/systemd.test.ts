import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { ConnectionStatus } from '../../src/agent/connection-status.js';
import { connectionLoopProblem } from '../../src/systemd/connection-liveness.js';
import {
  readNotifyEnvironment,
  takeNotifyEnvironment,
} from '../../src/systemd/notify-environment.js';
import { NotifySender, type NotifyChild } from '../../src/systemd/notify-sender.js';
import { ServiceNotifier } from '../../src/systemd/service-notifier.js';
import { Watchdog } from '../../src/systemd/watchdog.js';
import { FakeClock } from '../helpers/fake-clock.js';

const silent = pino({ level: 'silent' });

/** A spawn that records each systemd-notify run and lets the test end it. */
function fakeSpawn() {
  const runs: { args: string[]; env: Record<string, string>; child: FakeChild }[] = [];
  const spawn = (_command: string, args: string[], env: Record<string, string>): NotifyChild => {
    const child = new FakeChild();
    runs.push({ args, env, child });
    return child;
  };
  return { runs, spawn };
}

class FakeChild extends EventEmitter implements NotifyChild {
  readonly stderr = null;
  killedWith: string | undefined;
  kill(signal?: NodeJS.Signals): boolean {
    this.killedWith = signal;
    this.emit('close', null, signal);
    return true;
  }
  finish(code = 0): void {
    this.emit('close', code, null);
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function capture() {
  const lines: { level: number; msg: string; code?: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  return { lines, logger };
}

describe('readNotifyEnvironment', () => {
  it('reads the socket and half of WATCHDOG_USEC', () => {
    const env = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '60000000' };
    assert.deepEqual(readNotifyEnvironment(env, 42), {
      socket: '/run/systemd/notify',
      watchdogIntervalMs: 30_000,
      problems: [],
    });
  });

  it('ignores a watchdog meant for another process and reports malformed values', () => {
    assert.equal(
      readNotifyEnvironment({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000', WATCHDOG_PID: '7' }, 42)
        .watchdogIntervalMs,
      null,
    );
    assert.equal(
      readNotifyEnvironment({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000', WATCHDOG_PID: '42' }, 42)
        .watchdogIntervalMs,
      1,
    );
    const bad = readNotifyEnvironment({ NOTIFY_SOCKET: 'relative', WATCHDOG_USEC: '10s' }, 1);
    assert.equal(bad.socket, null);
    assert.match(bad.problems[0] ?? '', /NOTIFY_SOCKET must be an absolute path/);
    const badUsec = readNotifyEnvironment({ NOTIFY_SOCKET: '/s', WATCHDOG_USEC: '0' }, 1);
    assert.match(badUsec.problems[0] ?? '', /WATCHDOG_USEC must be a positive integer/);
    assert.deepEqual(readNotifyEnvironment({}, 1), {
      socket: null,
      watchdogIntervalMs: null,
      problems: [],
    });
  });

  it('take… removes the variables so child processes do not inherit them', () => {
    const env: Record<string, string | undefined> = {
      NOTIFY_SOCKET: '/s',
      WATCHDOG_USEC: '1000000',
      WATCHDOG_PID: '5',
      PATH: '/bin',
    };
    assert.equal(takeNotifyEnvironment(env, 5).watchdogIntervalMs, 500);
    assert.deepEqual(env, { PATH: '/bin' });
  });
});

describe('connectionLoopProblem', () => {
  const limits = { dialTimeoutMs: 15_000, graceMs: 1_000 };
  const connecting: ConnectionStatus = { kind: 'connecting', attempt: 0, url: 'ws://h' };
  const backoff: ConnectionStatus = { kind: 'backoff', attempt: 2, delayMs: 4_000, reason: 'x' };

  it('bounds every state but online', () => {
    assert.equal(connectionLoopProblem({ kind: 'online', since: '', url: '' }, 1e9, limits), null);
    assert.equal(connectionLoopProblem(connecting, 16_000, limits), null);
    assert.match(connectionLoopProblem(connecting, 16_001, limits) ?? '', /connecting for 16001/);
    assert.equal(connectionLoopProblem(backoff, 5_000, limits), null);
    assert.match(connectionLoopProblem(backoff, 5_001, limits) ?? '', /backoff/);
    assert.match(connectionLoopProblem({ kind: 'stopped' }, 0, limits) ?? '', /not running/);
  });
});

describe('NotifySender', () => {
  it('runs one systemd-notify at a time and merges what arrives meanwhile', async () => {
    const { runs, spawn } = fakeSpawn();
    const sender = new NotifySender({
      socket: '/run/notify',
      path: '/usr/bin',
      clock: new FakeClock(),
      logger: silent,
      spawn,
    });
    sender.send({ READY: '1', STATUS: 'connecting' });
    sender.send({ STATUS: 'backoff\nline two' });
    sender.send({ WATCHDOG: '1' });
    sender.send({ STATUS: 'online' });
    assert.equal(runs.length, 1);
    assert.deepEqual(runs[0]?.args, ['READY=1', 'STATUS=connecting']);
    assert.deepEqual(runs[0]?.env, { NOTIFY_SOCKET: '/run/notify', PATH: '/usr/bin' });
    const idle = sender.idle();
    runs[0]?.child.finish();
    await tick();
    assert.deepEqual(runs[1]?.args, ['WATCHDOG=1', 'STATUS=online']);
    runs[1]?.child.finish();
    await idle;
    assert.equal(runs.length, 2);
  });

  it('kills a run that hangs, logs a failing streak once, and gives up when systemd-notify is missing', async () => {
    const clock = new FakeClock();
    const { lines, logger } = capture();
    const { runs, spawn } = fakeSpawn();
    const sender = new NotifySender({
      socket: '/s',
      path: '',
      clock,
      logger,
      spawn,
      timeoutMs: 50,
    });
    sender.send({ WATCHDOG: '1' });
    clock.advance(50);
    assert.equal(runs[0]?.child.killedWith, 'SIGKILL');
    await tick();
    sender.send({ WATCHDOG: '1' });
    runs[1]?.child.finish(1);
    await tick();
    assert.deepEqual(
      lines.map((l) => l.code),
      ['systemd_notify_failed'],
    );
    sender.send({ WATCHDOG: '1' });
    runs[2]?.child.finish(0);
    await tick();
    assert.match(lines[1]?.msg ?? '', /work again/);

    sender.send({ WATCHDOG: '1' });
    runs[3]?.child.emit('error', Object.assign(new Error('spawn'), { code: 'ENOENT' }));
    await tick();
    sender.send({ WATCHDOG: '1' });
    await sender.idle();
    assert.equal(runs.length, 4, 'no more runs once systemd-notify is known missing');
    assert.equal(lines.at(-1)?.code, 'systemd_notify_unavailable');
  });
});

/** A FakeClock whose reading can jump ahead without firing timers: a stalled event loop. */
class StallingClock extends FakeClock {
  stalledMs = 0;
  override now(): number {
    return super.now() + this.stalledMs;
  }
}

describe('Watchdog', () => {
  it('pets every interval while healthy, withholds while the check fails or the loop stalled', () => {
    const clock = new StallingClock();
    const { lines, logger } = capture();
    let problem: string | null = null;
    const pets: number[] = [];
    const watchdog = new Watchdog({
      intervalMs: 1_000,
      clock,
      logger,
      check: () => problem,
      pet: () => pets.push(clock.now()),
    });
    watchdog.start();
    clock.advance(3_000);
    assert.deepEqual(pets, [1_000, 2_000, 3_000]);
    problem = 'connection connecting for 99 s';
    clock.advance(2_000);
    assert.equal(pets.length, 3);
    assert.equal(lines.filter((l) => l.code === 'watchdog_withheld').length, 1, 'once a streak');
    problem = null;
    clock.advance(1_000);
    assert.equal(pets.length, 4);
    clock.stalledMs = 1_500; // the next tick fires 1.5 intervals late
    clock.advance(1_000);
    assert.equal(pets.length, 4);
    assert.match(lines.at(-1)?.msg ?? '', /event loop stalled/);
    clock.advance(1_000);
    assert.equal(pets.length, 5);
    watchdog.stop();
    clock.advance(10_000);
    assert.equal(pets.length, 5);
    assert.equal(clock.pendingTimers(), 0);
  });
});

describe('ServiceNotifier', () => {
  function statusSource() {
    let current: ConnectionStatus = { kind: 'connecting', attempt: 1, url: 'ws://h/v1/device' };
    const listeners = new Set<(s: ConnectionStatus) => void>();
    return {
      status: () => current,
      onStatus: (listener: (s: ConnectionStatus) => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      set(status: ConnectionStatus) {
        current = status;
        for (const listener of listeners) listener(status);
      },
    };
  }

  it('does nothing outside systemd', async () => {
    const { runs, spawn } = fakeSpawn();
    const notifier = new ServiceNotifier({
      environment: { socket: null, watchdogIntervalMs: null, problems: [] },
      clock: new FakeClock(),
      logger: silent,
      liveness: { dialTimeoutMs: 1_000, graceMs: 0 },
      path: '',
      spawn,
    });
    notifier.ready(statusSource());
    await notifier.stopping();
    assert.equal(runs.length, 0);
  });

  it('READY with the status, STATUS on change, pets while the loop is alive, STOPPING last', async () => {
    const clock = new FakeClock();
    const { runs, spawn } = fakeSpawn();
    const sent = () => runs.map((run) => run.args.join(' '));
    const finishAll = async () => {
      for (const run of runs) run.child.finish();
      await tick();
      for (const run of runs) run.child.finish();
    };
    const notifier = new ServiceNotifier({
      environment: { socket: '/s', watchdogIntervalMs: 1_000, problems: [] },
      clock,
      logger: silent,
      liveness: { dialTimeoutMs: 1_500, graceMs: 0 },
      path: '',
      spawn,
    });
    const agent = statusSource();
    notifier.ready(agent);
    await finishAll();
    clock.advance(1_000);
    await finishAll();
    agent.set({ kind: 'online', since: '2026-01-01T00:00:00.000Z', url: 'ws://h/v1/device' });
    await finishAll();
    clock.advance(1_000);
    await finishAll();
    assert.deepEqual(sent(), [
      'READY=1 STATUS=connecting to ws://h/v1/device (attempt 1)',
      'WATCHDOG=1',
      'STATUS=online since 2026-01-01T00:00:00.000Z',
      'WATCHDOG=1',
    ]);

    agent.set({ kind: 'connecting', attempt: 1, url: 'ws://h/v1/device' });
    await finishAll();
    clock.advance(3_000); // dialling: one pet within the dial timeout, none once stuck past it
    await finishAll();
    assert.equal(sent().filter((s) => s === 'WATCHDOG=1').length, 3);

    const stopping = notifier.stopping();
    await tick();
    await finishAll();
    await stopping;
    assert.equal(sent().at(-1), 'STOPPING=1 STATUS=stopping');
    agent.set({ kind: 'stopped' });
    clock.advance(5_000);
    await finishAll();
    assert.equal(sent().at(-1), 'STOPPING=1 STATUS=stopping', 'nothing after STOPPING');
  });
});
