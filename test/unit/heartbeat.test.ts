import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Heartbeat } from '../../src/agent/heartbeat.js';
import { FakeClock } from '../helpers/fake-clock.js';

function setup(intervalMs = 30_000, timeoutMs = 10_000) {
  const clock = new FakeClock();
  const events: string[] = [];
  const heartbeat = new Heartbeat({
    intervalMs,
    timeoutMs,
    clock,
    sendPing: () => events.push(`ping@${clock.now()}`),
    onStale: () => events.push(`stale@${clock.now()}`),
  });
  return { clock, events, heartbeat };
}

describe('Heartbeat', () => {
  it('pings after a quiet interval and declares the link stale after interval + timeout', () => {
    const { clock, events, heartbeat } = setup();
    heartbeat.start();
    clock.advance(29_999);
    assert.deepEqual(events, []);
    clock.advance(1);
    assert.deepEqual(events, ['ping@30000']);
    clock.advance(9_999);
    assert.deepEqual(events, ['ping@30000']);
    clock.advance(1);
    assert.deepEqual(events, ['ping@30000', 'stale@40000']);
    assert.equal(clock.pendingTimers(), 0, 'nothing left armed after expiry');
  });

  it('any traffic resets the deadline', () => {
    const { clock, events, heartbeat } = setup();
    heartbeat.start();
    for (let i = 0; i < 10; i++) {
      clock.advance(20_000);
      heartbeat.touch();
    }
    assert.deepEqual(events, []);
    clock.advance(40_000);
    assert.deepEqual(events, ['ping@230000', 'stale@240000']);
  });

  it('a pong after our ping keeps the link alive', () => {
    const { clock, events, heartbeat } = setup();
    heartbeat.start();
    clock.advance(35_000);
    heartbeat.touch();
    clock.advance(29_999);
    assert.deepEqual(events, ['ping@30000']);
    clock.advance(1);
    assert.deepEqual(events, ['ping@30000', 'ping@65000']);
  });

  it('pings once per quiet spell, not on every check', () => {
    const { clock, events, heartbeat } = setup(1000, 5000);
    heartbeat.start();
    clock.advance(5_999);
    assert.deepEqual(events, ['ping@1000']);
  });

  it('stop() disarms it', () => {
    const { clock, events, heartbeat } = setup();
    heartbeat.start();
    heartbeat.stop();
    clock.advance(100_000);
    assert.deepEqual(events, []);
    assert.equal(clock.pendingTimers(), 0);
  });

  it('keeps at most one timer however busy the link is', () => {
    const { clock, heartbeat } = setup();
    heartbeat.start();
    for (let i = 0; i < 10_000; i++) heartbeat.touch();
    assert.equal(clock.pendingTimers(), 1);
  });
});
