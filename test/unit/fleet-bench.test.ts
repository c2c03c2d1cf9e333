import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { largestSustained, nextFleetSize, type FleetTrial } from '../../bench/fleet/max-search.js';
import { SampleTally } from '../../bench/fleet/sample-tally.js';

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
