import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  authRejectedDelay,
  backoffCeiling,
  backoffDelay,
  restartDelay,
} from '../../src/time/backoff.js';

const options = { initialDelayMs: 1000, maxDelayMs: 30_000 };

describe('backoff', () => {
  it('doubles from the initial delay and caps at the maximum', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 50].map((a) => backoffCeiling(a, options)),
      [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
    );
  });

  it('never overflows for huge attempt numbers', () => {
    assert.equal(backoffCeiling(Number.MAX_SAFE_INTEGER, options), 30_000);
    assert.equal(backoffCeiling(-3, options), 1000);
  });

  it('jitters within [ceiling/2, ceiling]', () => {
    for (const attempt of [0, 3, 10]) {
      const ceiling = backoffCeiling(attempt, options);
      assert.equal(
        backoffDelay(attempt, options, () => 0),
        ceiling / 2,
      );
      assert.equal(
        backoffDelay(attempt, options, () => 0.999999),
        ceiling,
      );
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(attempt, options, Math.random);
        assert.ok(d >= ceiling / 2 && d <= ceiling, `${d} outside [${ceiling / 2}, ${ceiling}]`);
      }
    }
  });

  it('spreads a fleet: 1000 random draws are not all alike', () => {
    const delays = new Set(
      Array.from({ length: 1000 }, () => backoffDelay(5, options, Math.random)),
    );
    assert.ok(delays.size > 500);
  });

  it('waits about the initial delay after a hub restart', () => {
    assert.equal(
      restartDelay(options, () => 0),
      500,
    );
    assert.equal(
      restartDelay(options, () => 0.999999),
      1500,
    );
  });

  it('waits near the maximum after the hub refused the credentials', () => {
    assert.equal(
      authRejectedDelay(options, () => 0),
      22_500,
    );
    assert.equal(
      authRejectedDelay(options, () => 0.999999),
      30_000,
    );
  });
});
