import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdleDeadline } from '../../src/time/idle-deadline.js';
import { FakeClock } from '../helpers/fake-clock.js';

describe('IdleDeadline', () => {
  it('fires once after the quiet time, counted from the last activity', () => {
    const clock = new FakeClock();
    let fired = 0;
    const idle = new IdleDeadline(clock, 1_000, () => fired++);
    idle.start();
    clock.advance(600);
    idle.touch();
    clock.advance(600);
    assert.equal(fired, 0, 'touched 600 ms ago');
    clock.advance(400);
    assert.equal(fired, 1);
    idle.touch();
    clock.advance(5_000);
    assert.equal(fired, 1, 'fires once');
  });

  it('never fires when stopped, or with 0', () => {
    const clock = new FakeClock();
    let fired = 0;
    const stopped = new IdleDeadline(clock, 1_000, () => fired++);
    stopped.start();
    stopped.stop();
    const never = new IdleDeadline(clock, 0, () => fired++);
    never.start();
    clock.advance(10_000);
    assert.equal(fired, 0);
  });
});
