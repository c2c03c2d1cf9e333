import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SEQ_RESERVATION } from '../../src/storage/spool.js';
import {
  appendMany,
  readAll,
  segmentFiles,
  spoolBody as body,
  spoolFixture,
} from '../helpers/spool-fixture.js';

/** The spool as the agent runs it by default: memory first, spilled after 1 s. */
const setup = (more: Parameters<typeof spoolFixture>[0] = {}) =>
  spoolFixture({ writeBeforeSend: false, spillAfterMs: 1_000, ...more });

describe('Spool, memory first', () => {
  it('online, sends at once and writes nothing that is acknowledged in time', () => {
    const { open, fs, clock, dir } = setup();
    const spool = open();
    spool.setOnline(true);
    appendMany(spool, 1); // the first message takes the seq reservation: one store.json write
    spool.acknowledge(1);
    const writes = fs.writes;
    const replaces = fs.replaces;
    for (let second = 0; second < 60; second++) {
      const seqs = appendMany(spool, 3);
      assert.deepEqual(
        readAll(spool, spool.ackedSeq).map((e) => e.seq),
        seqs,
        'sendable before any write',
      );
      clock.advance(100);
      spool.acknowledge(seqs.at(-1) as number);
      clock.advance(900);
    }
    assert.equal(fs.writes, writes, 'no segment write');
    assert.equal(fs.replaces, replaces, 'no store.json rewrite for acknowledgements');
    assert.deepEqual(segmentFiles(dir), []);
    spool.close();
  });

  it('writes what waited spillAfterMs unacknowledged, and only that', () => {
    const { open, clock } = setup();
    const spool = open();
    spool.setOnline(true);
    appendMany(spool, 5); // seqs 1–5 at t=0
    clock.advance(500);
    appendMany(spool, 5); // 6–10 at t=500
    clock.advance(499);
    assert.equal(spool.stats().pending, 10, 'nothing is of age yet');
    clock.advance(1);
    assert.equal(spool.stats().pending, 5, 'the first five are written at 1 s');
    // Sent from the segment and memory alike, in order.
    assert.deepEqual(
      readAll(spool).map((e) => e.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    spool.acknowledge(10);
    clock.advance(5_000);
    assert.equal(spool.stats().pending, 0);
    spool.close();
  });

  it('kill -9: what was written comes back, the counter never reuses a seq that may have left', () => {
    const { open, clock } = setup();
    const first = open();
    first.setOnline(true);
    appendMany(first, 4); // 1–4, unacknowledged: written at 1 s
    clock.advance(1_000);
    appendMany(first, 3); // 5–7: sent, in memory only, when the process dies
    const lastSent = first.lastSeq;
    // No close(): a crash. A new spool on the same directory is the next run.
    const second = open();
    assert.deepEqual(
      readAll(second).map((e) => e.seq),
      [1, 2, 3, 4],
      'the spilled records are replayed',
    );
    assert.ok(second.lastSeq >= lastSent, `numbers on above ${lastSent}: ${second.lastSeq}`);
    assert.ok(second.lastSeq <= lastSent + SEQ_RESERVATION);
    second.close();
  });

  it('a clean close writes what is unacknowledged and numbers on without a gap', () => {
    const { open } = setup();
    const first = open();
    first.setOnline(true);
    appendMany(first, 7);
    first.acknowledge(3);
    first.close();
    const second = open();
    assert.deepEqual(
      readAll(second, second.ackedSeq).map((e) => e.seq),
      [4, 5, 6, 7],
    );
    assert.equal(second.append('telemetry', 0, body(8)), 8);
    second.close();
  });

  it('going offline writes what waits in memory; offline, it writes before it sends', () => {
    const { open, fs, clock } = setup();
    const spool = open();
    spool.setOnline(true);
    appendMany(spool, 3);
    const writes = fs.writes;
    spool.setOnline(false);
    assert.ok(fs.writes > writes, 'written as the link went down');
    assert.equal(spool.stats().pending, 0);
    appendMany(spool, 2);
    assert.deepEqual(
      readAll(spool, 3).map((e) => e.seq),
      [],
      'offline: not sendable before it is written',
    );
    clock.advance(50);
    assert.deepEqual(
      readAll(spool, 3).map((e) => e.seq),
      [4, 5],
    );
    spool.setOnline(true);
    spool.close();
  });

  it('a crash while offline leaves no gap: going offline writes the exact floor', () => {
    const { open } = setup();
    const first = open();
    first.setOnline(true);
    appendMany(first, 5);
    first.setOnline(false);
    appendMany(first, 2); // 6, 7: offline, not yet written when the process dies
    const second = open();
    assert.deepEqual(
      readAll(second).map((e) => e.seq),
      [1, 2, 3, 4, 5],
    );
    assert.equal(second.append('telemetry', 0, body(6)), 6, 'no seq of 6 or 7 ever left');
    second.close();
  });

  it('past spillAtBytes writes at once instead of holding more in memory', () => {
    const { open, fs } = setup({ spillAtBytes: 4096 });
    const spool = open();
    spool.setOnline(true);
    const writes = fs.writes;
    appendMany(spool, 10);
    assert.equal(fs.writes, writes);
    appendMany(spool, 100); // ~40 bytes each
    assert.ok(fs.writes > writes);
    assert.ok(spool.stats().pending * 40 < 4096, `${spool.stats().pending} pending`);
    assert.equal(spool.stats().dropped, 0);
    spool.close();
  });

  it('renews the seq reservation once per SEQ_RESERVATION messages', () => {
    const { open, fs } = setup({ memoryMaxMessages: 200_000, memoryMaxBytes: 64 << 20 });
    const spool = open();
    spool.setOnline(true);
    const replaces = fs.replaces;
    for (let i = 0; i < 2 * SEQ_RESERVATION; i += 1_024) {
      appendMany(spool, 1_024);
      spool.acknowledge(spool.lastSeq);
    }
    assert.equal(fs.replaces - replaces, 2, 'store.json written twice in 2 × SEQ_RESERVATION');
    spool.close();
  });
});
