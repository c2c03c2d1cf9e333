import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DelayHistogram } from '../../bench/fleet/delay-histogram.js';
import { largestSustained, nextFleetSize, type FleetTrial } from '../../bench/fleet/max-search.js';
import { SampleTally } from '../../bench/fleet/sample-tally.js';
import { percentile } from '../../bench/lib/proc-stats.js';

describe('fleet bench: SampleTally', () => {
  it('counts each sample of the window once, and resends as duplicates', () => {
    const tally = new SampleTally();
    tally.setWindow({ startMs: 1_000, endMs: 4_000 });
    assert.equal(tally.record('d1', 'cpu', 500), false, 'before the window');
    assert.equal(tally.record('d1', 'cpu', 1_000), true);
    assert.equal(tally.record('d1', 'memory', 1_000), true, 'another stream, same time');
    assert.equal(tally.record('d2', 'cpu', 1_000), true, 'another device, same time');
    assert.equal(tally.record('d1', 'cpu', 2_000), true);
    assert.equal(tally.record('d1', 'cpu', 1_000), false, 'a resend after a reconnect');
    assert.equal(tally.record('d1', 'cpu', 2_000), false);
    assert.equal(tally.record('d1', 'cpu', 4_000), false, 'the window end is exclusive');
    assert.equal(tally.inWindow, 4);
    assert.equal(tally.duplicates, 2);
  });

  it('counts the window samples per device too (each hub’s client checks its share)', () => {
    const tally = new SampleTally();
    tally.setWindow({ startMs: 1_000, endMs: 3_000 });
    tally.record('d1', 'cpu', 1_000);
    tally.record('d1', 'memory', 1_000);
    tally.record('d1', 'cpu', 1_000); // a resend
    tally.record('d2', 'cpu', 2_000);
    tally.record('d3', 'cpu', 500); // before the window
    assert.deepEqual(tally.inWindowByDevice(), [
      ['d1', 2],
      ['d2', 1],
    ]);
  });

  it('tells how many streams are past a time', () => {
    const tally = new SampleTally();
    tally.record('d1', 'cpu', 5_000);
    tally.record('d1', 'memory', 3_000);
    tally.record('d2', 'cpu', 6_000);
    assert.equal(tally.streamsPast(5_000), 2);
    tally.record('d1', 'memory', 5_100);
    assert.equal(tally.streamsPast(5_000), 3);
  });

  it('refuses a window set after samples inside it were recorded (they would go uncounted)', () => {
    const tally = new SampleTally();
    tally.record('d1', 'cpu', 1_500);
    assert.throws(() => tally.setWindow({ startMs: 1_000, endMs: 2_000 }), RangeError);
    tally.setWindow({ startMs: 2_000, endMs: 3_000 });
  });

  it('starts a new count with each window', () => {
    const tally = new SampleTally();
    tally.setWindow({ startMs: 0, endMs: 10 });
    tally.record('d1', 'cpu', 1);
    tally.setWindow({ startMs: 10, endMs: 20 });
    assert.equal(tally.inWindow, 0);
    tally.record('d1', 'cpu', 1);
    assert.equal(tally.duplicates, 0, 'a resend from before the window is not this window’s');
  });
});

describe('fleet bench: the search for the largest fleet', () => {
  const options = { first: 50, ceiling: 3_000, bisections: 2, granularity: 25 };

  /** Runs the search against a machine that holds up to `limit` agents. */
  function search(limit: number, o = options): FleetTrial[] {
    const trials: FleetTrial[] = [];
    for (let n = nextFleetSize(trials, o); n !== null; n = nextFleetSize(trials, o)) {
      trials.push({ agents: n, sustained: n <= limit });
    }
    return trials;
  }

  it('doubles until a size fails, then bisects twice', () => {
    const trials = search(1_000);
    assert.deepEqual(
      trials.map((t) => t.agents),
      [50, 100, 200, 400, 800, 1600, 1200, 1000],
    );
    assert.equal(largestSustained(trials), 1_000);
  });

  it('stops at the ceiling when every size holds', () => {
    const trials = search(10_000);
    assert.deepEqual(
      trials.map((t) => t.agents),
      [50, 100, 200, 400, 800, 1600, 3000],
    );
    assert.equal(largestSustained(trials), 3_000);
  });

  it('reports none when even the first size fails, after bisecting below it', () => {
    const trials = search(10);
    assert.deepEqual(
      trials.map((t) => t.agents),
      [50, 25],
    );
    assert.equal(largestSustained(trials), null);
  });

  it('ignores a pass above a failure (noise) when naming the largest', () => {
    assert.equal(
      largestSustained([
        { agents: 400, sustained: true },
        { agents: 800, sustained: false },
        { agents: 1_000, sustained: true },
      ]),
      400,
    );
  });
});

describe('fleet bench: DelayHistogram', () => {
  it('gives the same percentiles as the raw delays', () => {
    const delays = Array.from({ length: 1_001 }, (_, i) => (i * 7919) % 1_300);
    const histogram = new DelayHistogram();
    for (const d of delays) histogram.record(d);
    for (const p of [0, 50, 90, 99, 100])
      assert.equal(histogram.percentile(p), percentile(delays, p));
    assert.equal(histogram.max(), Math.max(...delays));
  });

  it('merges the counts of several clients into one distribution', () => {
    const a = new DelayHistogram();
    const b = new DelayHistogram();
    for (const d of [5, 5, 10]) a.record(d);
    for (const d of [10, 900]) b.record(d);
    const merged = new DelayHistogram();
    merged.merge(a.counts());
    merged.merge(b.counts());
    assert.equal(merged.total, 5);
    assert.deepEqual(
      [50, 80, 99].map((p) => merged.percentile(p)),
      [10, 900, 900],
    );
    assert.equal(merged.max(), 900);
  });

  it('is NaN when nothing arrived', () => {
    assert.ok(Number.isNaN(new DelayHistogram().percentile(99)));
  });
});
