import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AckBatcher } from '../../src/hub/ack-batcher.js';
import { DeliveryCursors } from '../../src/hub/delivery-cursors.js';
import { DeliveryJournal, nodeJournalFs } from '../../src/hub/delivery-journal.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('DeliveryCursors', () => {
  it('takes each seq once, allows gaps, and starts over for a new store', () => {
    const cursors = new DeliveryCursors();
    assert.equal(cursors.open('d', 'store-one'), 0);
    assert.equal(cursors.accept('d', 1), true);
    assert.equal(cursors.accept('d', 1), false, 'duplicate');
    assert.equal(cursors.accept('d', 5), true, 'a gap: the agent dropped 2–4 and says so');
    assert.equal(cursors.accept('d', 3), false);
    assert.equal(cursors.open('d', 'store-one'), 5, 'the same store resumes');
    assert.equal(cursors.open('d', 'store-two'), 0, 'a wiped spool starts over');
    assert.equal(cursors.accept('d', 1), true);
  });

  it('with a journal, survives a restart (a torn last line is ignored)', () => {
    const dir = tempDir('journal-');
    const first = new DeliveryCursors(new DeliveryJournal(dir, nodeJournalFs));
    first.restore();
    first.open('a', 'store-aaaa');
    for (let seq = 1; seq <= 50; seq++) first.accept('a', seq);
    first.open('b', 'store-bbbb');
    first.accept('b', 7);
    first.close();
    appendFileSync(join(dir, 'delivery.jsonl'), '{"d":"a","s":"store-aa');

    const second = new DeliveryCursors(new DeliveryJournal(dir, nodeJournalFs));
    second.restore();
    assert.equal(second.open('a', 'store-aaaa'), 50);
    assert.equal(second.open('b', 'store-bbbb'), 7);
    assert.equal(second.accept('a', 50), false);
    second.close();
  });
});

describe('AckBatcher', () => {
  it('acks the first at once, then at most once per interval with the highest seq', () => {
    const clock = new FakeClock();
    const sent: number[] = [];
    const acks = new AckBatcher({ intervalMs: 200, clock, send: (seq) => sent.push(seq) });
    acks.note(1);
    assert.deepEqual(sent, [1]);
    for (let seq = 2; seq <= 50; seq++) {
      acks.note(seq);
      clock.advance(10);
    }
    // 490 ms of traffic after the first ack: acks at 200 and 400 ms, the last one pending.
    assert.deepEqual(sent, [1, 21, 41]);
    clock.advance(200);
    assert.deepEqual(sent, [1, 21, 41, 50]);
    acks.note(50); // a duplicate is acknowledged again (its ack may have been lost)
    clock.advance(200);
    assert.deepEqual(sent, [1, 21, 41, 50, 50]);
    acks.stop();
  });

  it('with afterTurn, the frames of one turn share the ack that would go at once', () => {
    const clock = new FakeClock();
    const sent: number[] = [];
    const turnEnds: Array<() => void> = [];
    const endTurn = () => turnEnds.splice(0).forEach((run) => run());
    const acks = new AckBatcher({
      intervalMs: 200,
      clock,
      afterTurn: (run) => turnEnds.push(run),
      send: (seq) => sent.push(seq),
    });
    acks.note(1);
    acks.note(2);
    acks.note(3); // a telemetry tick: three frames in one read
    assert.deepEqual(sent, [], 'not before the turn ends');
    endTurn();
    assert.deepEqual(sent, [3], 'one ack for the three');
    clock.advance(1_000);
    acks.note(4);
    acks.note(5);
    endTurn();
    assert.deepEqual(sent, [3, 5], 'the next tick, a second later: one ack again');
    acks.note(6);
    acks.stop(); // the link closed before the interval ended
    clock.advance(1_000);
    endTurn();
    acks.note(7);
    acks.stop(); // the link closed within the turn: nothing is sent on it
    endTurn();
    assert.deepEqual(sent, [3, 5]);
  });

  it('with maxBytes, acks at once when that much arrived since the last ack', () => {
    const clock = new FakeClock();
    const sent: number[] = [];
    const acks = new AckBatcher({
      intervalMs: 200,
      maxBytes: 1_000,
      clock,
      send: (seq) => sent.push(seq),
    });
    acks.note(1, 100);
    assert.deepEqual(sent, [1], 'the first at once, as always');
    for (let seq = 2; seq <= 30; seq++) acks.note(seq, 100); // no time passes
    assert.deepEqual(sent, [1, 11, 21], 'one ack per 1,000 bytes');
    clock.advance(200);
    assert.deepEqual(sent, [1, 11, 21, 30], 'the rest at the end of the interval');
    acks.stop();
  });
});
