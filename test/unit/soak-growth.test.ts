import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  growthOf,
  slopePerHour,
  studentT99,
  windowMinima,
  type TimedValue,
} from '../../bench/soak/growth.js';
import { SeqLedger } from '../../bench/soak/seq-ledger.js';
import { fullCollections } from '../../bench/soak/gc-trace.js';

const HOUR_MS = 3_600_000;

/** One sample a second for `minutes`, `perHour` growth plus a saw of `sawMiB` every 7 s. */
function series(minutes: number, perHour: number, sawMiB: number): TimedValue[] {
  return Array.from({ length: minutes * 60 + 1 }, (_, s) => ({
    tMs: s * 1000,
    value: 20 + (perHour * s * 1000) / HOUR_MS + ((s % 7) / 6) * sawMiB,
  }));
}

describe('soak growth', () => {
  it('takes the lowest value of each full window, at its middle, and drops a partial last one', () => {
    const samples = [0, 10, 20, 30, 40, 50, 60].map((t, i) => ({
      tMs: t * 1000,
      value: [5, 3, 4, 9, 8, 7, 1][i] as number,
    }));
    assert.deepEqual(windowMinima(samples, 0, 30_000), [
      { tMs: 15_000, value: 3 },
      { tMs: 45_000, value: 7 },
    ]);
    assert.deepEqual(windowMinima(samples, 30_000, 30_000), [{ tMs: 45_000, value: 7 }]);
  });

  it('a flat saw has a slope near zero and a lower bound below it', () => {
    const growth = growthOf(series(5, 0, 3), 120_000, 30_000);
    assert.equal(growth.windows, 6);
    assert.ok(Math.abs(growth.perHour) < 1, `slope ${growth.perHour}`);
    assert.ok(growth.lowerPerHour <= growth.perHour && growth.upperPerHour >= growth.perHour);
  });

  it('a steady 60 MiB/h leak under a saw is found, with the lower bound above 5 MiB/h', () => {
    const growth = growthOf(series(5, 60, 3), 120_000, 30_000);
    assert.ok(Math.abs(growth.perHour - 60) < 3, `slope ${growth.perHour}`);
    assert.ok(growth.lowerPerHour > 5, `lower bound ${growth.lowerPerHour}`);
  });

  it('noise that happens to rise does not pass the bound with few windows', () => {
    // Minima 0, 1, 0, 1.5 MiB: a slope, but far from certain.
    const points = [0, 1, 0, 1.5].map((value, i) => ({ tMs: i * 30_000, value }));
    const growth = slopePerHour(points);
    assert.ok(growth.perHour > 5);
    assert.ok(growth.lowerPerHour < 5, `lower bound ${growth.lowerPerHour}`);
  });

  it('gives no bounds below three points, and no slope below two', () => {
    assert.ok(Number.isNaN(slopePerHour([{ tMs: 0, value: 1 }]).perHour));
    const two = slopePerHour([
      { tMs: 0, value: 1 },
      { tMs: HOUR_MS, value: 3 },
    ]);
    assert.ok(Math.abs(two.perHour - 2) < 1e-9);
    assert.ok(Number.isNaN(two.lowerPerHour));
  });

  it("Student's t is read conservatively between tabulated degrees of freedom", () => {
    assert.equal(studentT99(1), 31.821);
    assert.equal(studentT99(30), 2.457);
    assert.equal(studentT99(45), 2.423);
    assert.equal(studentT99(1000), 2.358);
    assert.equal(studentT99(0), Number.POSITIVE_INFINITY);
  });
});

describe('SeqLedger', () => {
  it('counts gaps as missing and steps back as repeats', () => {
    const ledger = new SeqLedger();
    for (const seq of [1, 2, 3, 6, 7, 7, 5, 8]) ledger.observe(seq);
    assert.deepEqual(ledger.summary(), {
      received: 8,
      last: 8,
      missing: 2,
      repeated: 2,
      gaps: '3→6',
    });
  });

  it('starts wherever the first seq is (a store that already sent messages)', () => {
    const ledger = new SeqLedger();
    for (const seq of [1041, 1042, 1043]) ledger.observe(seq);
    assert.equal(ledger.summary().missing, 0);
  });

  it("reads V8's full collections from --trace-gc output and nothing else", () => {
    const text = [
      '[18686:0xa50be50]       47 ms: Scavenge 8.1 (10.3) -> 7.6 (10.4) MB, 4.34 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ',
      '{"level":"info","msg":"hub listening"}',
      '[18686:0xa50be50]       58 ms: Mark-Compact 7.9 (10.4) -> 6.5 (15.4) MB, 10.07 / 0.00 ms  (average mu = 1.000, current mu = 1.000) testing; GC in old space requested',
      '[18686:0xa50be50]   612345 ms: Mark-Compact (reduce) 10.2 (13.4) -> 9.9 (11.4) MB, 3.10 / 0.00 ms  (average mu = 0.998, current mu = 0.990) memory reducer; GC in old space requested',
      '[18686:0xa50be50]   612',
    ].join('\n');
    assert.deepEqual(fullCollections(text), [
      { atMs: 58, afterMiB: 6.5, committedMiB: 15.4 },
      { atMs: 612_345, afterMiB: 9.9, committedMiB: 11.4 },
    ]);
  });
});
