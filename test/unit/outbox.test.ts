import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryOutbox, type OutboxSink } from '../../src/agent/outbox.js';
import type { AgentMessage } from '../../src/protocol/message.js';

const msg = (n: number): AgentMessage => ({
  type: 't',
  channel: 'c',
  ts: '2026-01-01T00:00:00.000Z',
  payload: { n },
});

/** A sink that holds written frames "in the socket" until the test releases them. */
class SlowSink implements OutboxSink {
  frames: string[] = [];
  pending: Array<() => void> = [];
  buffered = 0;
  send(frame: string, written: () => void): void {
    this.frames.push(frame);
    this.buffered += frame.length;
    this.pending.push(() => {
      this.buffered -= frame.length;
      written();
    });
  }
  bufferedAmount(): number {
    return this.buffered;
  }
  release(): void {
    const callbacks = this.pending;
    this.pending = [];
    for (const cb of callbacks) cb();
  }
}

const numbers = (sink: SlowSink) =>
  sink.frames.map((f) => (JSON.parse(f) as AgentMessage<{ n: number }>).payload.n);

describe('MemoryOutbox', () => {
  it('holds messages while detached and sends them in order once attached', () => {
    const outbox = new MemoryOutbox({ maxMessages: 100, highWaterBytes: 1 << 20 });
    for (let i = 0; i < 5; i++) outbox.enqueue(msg(i));
    assert.equal(outbox.stats().depth, 5);
    assert.equal(outbox.isBackedUp(), true);
    const sink = new SlowSink();
    outbox.attach(sink);
    outbox.enqueue(msg(5));
    assert.deepEqual(numbers(sink), [0, 1, 2, 3, 4, 5]);
    assert.equal(outbox.stats().depth, 0);
  });

  it('drops the oldest beyond its bound and counts them', () => {
    const drops: number[] = [];
    const outbox = new MemoryOutbox({
      maxMessages: 3,
      highWaterBytes: 1 << 20,
      onDrop: (_m, total) => drops.push(total),
    });
    for (let i = 0; i < 5; i++) outbox.enqueue(msg(i));
    const sink = new SlowSink();
    outbox.attach(sink);
    assert.deepEqual(numbers(sink), [2, 3, 4]);
    assert.deepEqual(drops, [1, 2]);
    assert.equal(outbox.stats().dropped, 2);
  });

  it('stops at the high-water mark, resumes as the socket drains, and tells producers', () => {
    const outbox = new MemoryOutbox({ maxMessages: 1000, highWaterBytes: 200 });
    const sink = new SlowSink();
    outbox.attach(sink);
    let drains = 0;
    outbox.onDrain(() => drains++);
    for (let i = 0; i < 20; i++) outbox.enqueue(msg(i));
    const firstBatch = sink.frames.length;
    assert.ok(firstBatch < 20, 'stopped writing at the high-water mark');
    assert.equal(outbox.isBackedUp(), true);
    while (sink.pending.length > 0) sink.release();
    assert.deepEqual(
      numbers(sink),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.equal(outbox.isBackedUp(), false);
    assert.ok(drains >= 1);
  });
});
