import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Deadband } from '../../src/telemetry/deadband.js';
import { PeriodicTimer } from '../../src/time/periodic-timer.js';
import { planStreams, type PlanInput } from '../../src/telemetry/stream-plan.js';
import {
  SampleError,
  SampleErrorCode,
  type StreamSource,
} from '../../src/telemetry/stream-source.js';
import { StreamTask } from '../../src/telemetry/stream-task.js';
import type { Clock, TimerHandle } from '../../src/time/clock.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { captureLogger, WARN } from '../helpers/log-capture.js';

/** A clock whose timers all fire `lateMs` after they are due, as a busy event loop's do. */
function lateClock(inner: FakeClock, lateMs: number): Clock {
  return {
    now: () => inner.now(),
    date: () => inner.date(),
    setTimeout: (fn, ms): TimerHandle => inner.setTimeout(fn, ms + lateMs),
    clearTimeout: (handle) => inner.clearTimeout(handle),
  };
}

describe('PeriodicTimer', () => {
  it('does not drift: sample 100 is due at 99 intervals, however late each timer fires', () => {
    const fake = new FakeClock();
    const ticks: number[] = [];
    const timer = new PeriodicTimer(lateClock(fake, 7), () => ticks.push(fake.now()));
    timer.start(100, 0);
    fake.advance(100 * 100);
    timer.stop();
    assert.ok(ticks.length >= 100);
    for (let i = 0; i < 100; i++) assert.equal(ticks[i], i * 100 + 7, `tick ${i}`);
    assert.equal(timer.skipped, 0);
    assert.equal(fake.pendingTimers(), 0);
  });

  it('skips slots it missed entirely instead of firing them in a burst', () => {
    const fake = new FakeClock();
    const ticks: number[] = [];
    const timer = new PeriodicTimer(lateClock(fake, 250), () => ticks.push(fake.now()));
    timer.start(100, 0);
    fake.advance(2000);
    timer.stop();
    for (let i = 1; i < ticks.length; i++)
      assert.ok(
        (ticks[i] as number) - (ticks[i - 1] as number) >= 100,
        'never closer than 1 interval',
      );
    assert.ok(timer.skipped > 0);
  });

  it('re-anchors on start with a new interval and first delay', () => {
    const fake = new FakeClock();
    const ticks: number[] = [];
    const timer = new PeriodicTimer(fake, () => ticks.push(fake.now()));
    timer.start(1000, 300);
    fake.advance(2500);
    timer.start(200, 50);
    fake.advance(500);
    timer.stop();
    assert.deepEqual(ticks, [300, 1300, 2300, 2550, 2750, 2950]);
    assert.throws(() => timer.start(0, 0), /positive/);
  });
});

describe('Deadband', () => {
  it('sends a move of more than the threshold, and at least every N samples', () => {
    const band = new Deadband({ threshold: 2, maxSilentIntervals: 4 });
    const sent = [50, 51, 52, 52.5, 49, 49, 49, 49, 49, 60].map((v) => band.admit(v));
    // 50 first; 51, 52 within 2 of 50; 52.5 moved 2.5; 49 moved 3.5; then silent until the 4th.
    assert.deepEqual(sent, [true, false, false, true, true, false, false, false, true, true]);
    band.reset();
    assert.equal(band.admit(60), true);
  });
});

describe('planStreams', () => {
  const base: PlanInput = {
    configured: new Set(['cpu', 'memory']),
    demand: [],
    available: new Set(['cpu', 'memory', 'load', 'disk']),
    intervalMs: 10_000,
    minIntervalMs: 1_000,
    perStream: { memory: { intervalMs: 30_000, deadband: 1 } },
  };

  it('runs configured streams at their interval, through their deadband', () => {
    assert.deepEqual(Object.fromEntries(planStreams(base)), {
      cpu: { intervalMs: 10_000, deadband: null },
      memory: { intervalMs: 30_000, deadband: { threshold: 1, maxSilentIntervals: 6 } },
    });
  });

  it('adds subscribed streams, faster when asked but never below the minimum, without deadband', () => {
    const plan = planStreams({
      ...base,
      demand: [
        { name: 'memory', intervalMs: 2_000 },
        { name: 'load' },
        { name: 'disk', intervalMs: 10 },
        { name: 'cpu', intervalMs: 60_000 },
        { name: 'temperature' },
      ],
    });
    assert.deepEqual(Object.fromEntries(plan), {
      cpu: { intervalMs: 10_000, deadband: null },
      memory: { intervalMs: 2_000, deadband: null },
      load: { intervalMs: 10_000, deadband: null },
      disk: { intervalMs: 1_000, deadband: null },
    });
  });

  it('leaves out streams the device cannot provide', () => {
    const plan = planStreams({ ...base, configured: new Set(['temperature']) });
    assert.equal(plan.size, 0);
  });
});

/** A source whose reads the test scripts: a number, an Error, or a pending promise. */
class ScriptedSource implements StreamSource {
  readonly name = 'probe';
  reads = 0;
  primed = 0;
  next: () => number | Promise<number> = () => 1;
  read(): number | Promise<number> {
    this.reads++;
    return this.next();
  }
  prime(): void {
    this.primed++;
  }
  close(): void {}
}

function taskWith(source: StreamSource, clock = new FakeClock()) {
  const { logger, lines } = captureLogger();
  const sent: { ts: string; value: number }[] = [];
  const errors: SampleError[] = [];
  const task = new StreamTask({
    source,
    clock,
    logger,
    send: (_stream, ts, value) => sent.push({ ts, value }),
    reportError: (e) => errors.push(e),
  });
  return { task, clock, sent, errors, lines };
}

describe('StreamTask', () => {
  it('primes once, samples on the grid, stamps ISO time and applies the deadband', () => {
    const source = new ScriptedSource();
    const values = [10, 10.5, 20, 20, 20];
    source.next = () => values.shift() ?? 0;
    const { task, clock, sent } = taskWith(source);
    task.apply({ intervalMs: 1000, deadband: { threshold: 1, maxSilentIntervals: 10 } }, 500);
    clock.advance(4600);
    assert.equal(source.primed, 1);
    assert.equal(source.reads, 5);
    assert.deepEqual(
      sent.map((s) => s.value),
      [10, 20],
    );
    assert.equal(sent[0]?.ts, new Date(clock.epochMs + 500).toISOString());
    task.apply({ intervalMs: 1000, deadband: null }, 0);
    assert.equal(source.primed, 1, 'a running stream is not primed again');
    clock.advance(1000);
    assert.deepEqual(sent.at(-1)?.value, 0);
    task.stop();
    assert.equal(clock.pendingTimers(), 0);
  });

  it('reports a failing stream once per streak and logs its recovery', () => {
    const source = new ScriptedSource();
    let failing = true;
    source.next = () => {
      if (failing) throw new Error('EIO');
      return 5;
    };
    const { task, clock, sent, errors, lines } = taskWith(source);
    task.apply({ intervalMs: 100, deadband: null }, 0);
    clock.advance(1000);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, SampleErrorCode.readFailed);
    assert.match(errors[0]?.message ?? '', /probe: EIO/);
    assert.equal(lines.filter((l) => l.level === WARN).length, 1);
    failing = false;
    clock.advance(100);
    assert.equal(sent.length, 1);
    assert.ok(lines.some((l) => /reads again/.test(l.msg)));
    failing = true;
    clock.advance(500);
    assert.equal(errors.length, 2, 'a new streak is reported again');
    task.stop();
  });

  it('never overlaps an asynchronous read: slots that come while it runs are skipped', async () => {
    const source = new ScriptedSource();
    let finish: (value: number) => void = () => {};
    source.next = () => new Promise<number>((resolve) => (finish = resolve));
    const { task, clock, sent } = taskWith(source);
    task.apply({ intervalMs: 100, deadband: null }, 0);
    clock.advance(450);
    assert.equal(source.reads, 1);
    assert.equal(task.overlapsSkipped, 4);
    finish(42);
    await Promise.resolve();
    assert.deepEqual(
      sent.map((s) => s.value),
      [42],
    );
    clock.advance(100);
    assert.equal(source.reads, 2);
    task.stop();
  });

  it('reports a rejected read with its own code, and a non-finite value as a failure', async () => {
    const source = new ScriptedSource();
    source.next = () =>
      Promise.reject(new SampleError(SampleErrorCode.timeout, 'probe: killed at 100 ms'));
    const { task, clock, errors } = taskWith(source);
    task.apply({ intervalMs: 100, deadband: null }, 0);
    clock.advance(1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors[0]?.code, SampleErrorCode.timeout);
    task.stop();

    const nan = new ScriptedSource();
    nan.next = () => NaN;
    const t2 = taskWith(nan);
    t2.task.sampleNow();
    assert.match(t2.errors[0]?.message ?? '', /not a finite number/);
    assert.equal(t2.sent.length, 0);
  });
});
