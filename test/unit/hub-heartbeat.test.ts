import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Heartbeat } from '../../src/hub/heartbeat.js';
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

describe('hub Heartbeat', () => {
  it('pings every interval while the peer answers', () => {
    const { clock, events, heartbeat } = setup();
    heartbeat.start();
    for (let i = 0; i < 3; i++) {
      clock.advance(30_000);
      heartbeat.pong();
    }
    clock.advance(10_000);
    assert.deepEqual(events, ['ping@30000', 'ping@60000', 'ping@90000']);
  });

  it('declares a peer stale when nothing arrives within the timeout of a ping', () => {
    const { clock, events, heartbeat } = setup();
    heartbeat.start();
    clock.advance(39_999);
    assert.deepEqual(events, ['ping@30000']);
    clock.advance(1);
    assert.deepEqual(events, ['ping@30000', 'stale@40000']);
    clock.advance(100_000);
    assert.equal(events.length, 2, 'stale once, then stopped');
    assert.equal(clock.pendingTimers(), 0);
  });

  it('counts a pong before the ping as no answer to it, and one after it as the answer', () => {
    const { clock, events, heartbeat } = setup();
    heartbeat.start();
    clock.advance(29_000);
    heartbeat.pong();
    clock.advance(1_000); // ping
    clock.advance(5_000);
    heartbeat.pong();
    clock.advance(35_000); // check passes, next ping at 60 s, its check at 70 s
    assert.deepEqual(events, ['ping@30000', 'ping@60000', 'stale@70000']);
  });

  it('keeps pinging when the timeout is longer than the interval', () => {
    const { clock, events, heartbeat } = setup(1_000, 5_000);
    heartbeat.start();
    clock.advance(1_000);
    heartbeat.pong();
    clock.advance(5_000);
    assert.deepEqual(events, ['ping@1000', 'ping@6000']);
  });

  it('stop() disarms it, and it holds one timer at a time', () => {
    const { clock, events, heartbeat } = setup();
    heartbeat.start();
    for (let i = 0; i < 1000; i++) heartbeat.pong();
    assert.equal(clock.pendingTimers(), 1);
    heartbeat.stop();
    clock.advance(1_000_000);
    assert.deepEqual(events, []);
    assert.equal(clock.pendingTimers(), 0);
  });
});
