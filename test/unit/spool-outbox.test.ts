import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OutboxSink } from '../../src/agent/outbox.js';
import type { AgentMessage } from '../../src/protocol/message.js';
import { MAX_SEQ } from '../../src/protocol/fields.js';
import { MAX_SEQ_BASE } from '../../src/protocol/seq-range.js';
import { nodeSpoolFs } from '../../src/storage/spool-fs.js';
import { openSpoolOutbox } from '../../src/storage/spool-outbox.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { captureLogger } from '../helpers/log-capture.js';
import { tempDir } from '../helpers/temp-dir.js';

class RecordingSink implements OutboxSink {
  frames: Array<{ seq: number; payload: { n: number } }> = [];
  send(frame: string, written: () => void): void {
    this.frames.push(JSON.parse(frame));
    written();
  }
  bufferedAmount(): number {
    return 0;
  }
  seqs(): number[] {
    return this.frames.map((f) => f.seq);
  }
}

const message = (n: number, channel = 'telemetry'): AgentMessage => ({
  type: 'telemetry',
  channel,
  ts: '2026-01-01T00:00:00.000Z',
  payload: { n },
});

function setup(windowMessages = 100, dir = tempDir('outbox-test-')) {
  const clock = new FakeClock();
  const { logger } = captureLogger();
  const outbox = openSpoolOutbox(
    {
      dir,
      deviceId: 'dev1',
      maxBytes: 1 << 20,
      maxAgeMs: 0,
      flushIntervalMs: 10,
      fsync: 'never',
      fsyncIntervalMs: 1_000,
      retryIntervalMs: 1_000,
      memoryMaxMessages: 1_000,
      memoryMaxBytes: 1 << 20,
      writeBeforeSend: true,
      spillAfterMs: 1_000,
      spillAtBytes: 256 * 1024,
      fs: nodeSpoolFs,
      clock,
      logger,
      newStoreId: () => 'store-abcdefgh',
    },
    { windowMessages, highWaterBytes: 1 << 20, logger },
  );
  outbox.start();
  return { outbox, clock, dir };
}

describe('SpoolOutbox', () => {
  it('numbers messages and sends them after they are written, in order', () => {
    const { outbox, clock } = setup();
    const sink = new RecordingSink();
    outbox.attach(sink, 0);
    for (let i = 0; i < 5; i++) outbox.enqueue(message(i));
    assert.deepEqual(sink.seqs(), [], 'not before the batch is on disk');
    clock.advance(10);
    assert.deepEqual(sink.seqs(), [1, 2, 3, 4, 5]);
    assert.deepEqual(
      sink.frames.map((f) => f.payload.n),
      [0, 1, 2, 3, 4],
    );
  });

  it('keeps at most the window unacknowledged, and continues on ack', () => {
    const { outbox, clock } = setup(3);
    const sink = new RecordingSink();
    outbox.attach(sink, 0);
    for (let i = 0; i < 10; i++) outbox.enqueue(message(i));
    clock.advance(10);
    assert.deepEqual(sink.seqs(), [1, 2, 3]);
    assert.equal(outbox.isBackedUp(), true);
    let drained = 0;
    outbox.onDrain(() => drained++);
    outbox.acknowledge(2);
    assert.deepEqual(sink.seqs(), [1, 2, 3, 4, 5]);
    outbox.acknowledge(5);
    assert.deepEqual(sink.seqs(), [1, 2, 3, 4, 5, 6, 7, 8]);
    outbox.acknowledge(8);
    outbox.acknowledge(10);
    assert.deepEqual(sink.seqs(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(outbox.isBackedUp(), false);
    assert.equal(drained, 1);
    assert.equal(outbox.stats().inFlight, 0);
  });

  it('after a lost link resends everything after the hub’s last_seq, older before newer', () => {
    const { outbox, clock } = setup();
    const first = new RecordingSink();
    outbox.attach(first, 0);
    for (let i = 0; i < 6; i++) outbox.enqueue(message(i));
    clock.advance(10);
    outbox.acknowledge(2);
    outbox.detach();
    outbox.enqueue(message(6)); // made while offline
    clock.advance(10);
    const second = new RecordingSink();
    outbox.attach(second, 4); // the hub processed up to 4, its ack was lost
    assert.deepEqual(second.seqs(), [5, 6, 7]);
  });

  it('replays after a restart from the spool', () => {
    const first = setup();
    for (let i = 0; i < 4; i++) first.outbox.enqueue(message(i));
    first.outbox.close();
    const second = setup(100, first.dir);
    const sink = new RecordingSink();
    second.outbox.attach(sink, 1);
    assert.deepEqual(sink.seqs(), [2, 3, 4]);
    second.outbox.enqueue(message(9));
    second.clock.advance(10);
    assert.deepEqual(sink.seqs(), [2, 3, 4, 5]);
  });

  it('with a hub that does not acknowledge, counts a message delivered once written', () => {
    const { outbox, clock } = setup(2);
    const sink = new RecordingSink();
    outbox.attach(sink); // welcome without last_seq
    for (let i = 0; i < 5; i++) outbox.enqueue(message(i));
    clock.advance(10);
    assert.deepEqual(sink.seqs(), [1, 2, 3, 4, 5], 'no window without acks');
    assert.equal(outbox.stats().ackedSeq, 5);
  });

  it('asks for a new store when the hub has seen seqs above its own; refuses one with no room above', () => {
    const { outbox } = setup();
    outbox.enqueue(message(0));
    assert.deepEqual(outbox.resumePoint(1), { kind: 'resume', after: 1 });
    assert.deepEqual(outbox.resumePoint(undefined), { kind: 'resume', after: 0 });
    assert.deepEqual(outbox.resumePoint(7), { kind: 'rotate' });
    assert.deepEqual(outbox.resumePoint(MAX_SEQ), { kind: 'invalid' }, 'no room above it');
    assert.deepEqual(outbox.resumePoint(MAX_SEQ_BASE), { kind: 'rotate' });
  });
});
