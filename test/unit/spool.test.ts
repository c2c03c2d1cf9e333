import assert from 'node:assert/strict';
import { appendFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeByteFrame, encodeByteFrame } from '../../src/protocol/byte-frame.js';
import { frameOf, type SpoolEntry } from '../../src/storage/record-codec.js';
import {
  appendMany,
  logCodes as codes,
  readAll,
  segmentFiles,
  spoolBody as body,
  spoolFixture as setup,
} from '../helpers/spool-fixture.js';

describe('Spool', () => {
  it('sends what it has just written from memory, and keeps it on disk: binary records too', () => {
    const { open, fs } = setup();
    const spool = open();
    const frame = encodeByteFrame({
      kind: 1,
      stream: 4,
      fd: 1,
      seq: 0,
      data: Buffer.from([0, 255, 10]),
    });
    spool.append('command', 1, body(1));
    spool.append('command', 2, frame);
    spool.flush();
    fs.readError = 'EIO'; // a read of the segment would fail: nothing is read back
    const sent = readAll(spool);
    assert.deepEqual(
      sent.map((e) => e.seq),
      [1, 2],
    );
    const wire = frameOf(sent[1] as SpoolEntry) as Uint8Array;
    const decoded = decodeByteFrame(wire);
    assert.ok(decoded.ok && decoded.frame.seq === 2 && decoded.frame.stream === 4);
    assert.deepEqual([...(decoded.ok ? decoded.frame.data : [])], [0, 255, 10]);
    fs.readError = null;
    spool.close();
    const again = readAll(open()); // a restart reads the file
    assert.deepEqual(
      again.map((e) => e.seq),
      [1, 2],
    );
    // Sent again after the restart: the same frame, numbered the same.
    assert.deepEqual([...(frameOf(again[1] as SpoolEntry) as Uint8Array)], [...wire]);
  });

  it('hands out nothing before a flush, then every message in seq order across lanes', () => {
    const { open } = setup();
    const spool = open();
    spool.append('telemetry', 1, body(1));
    spool.append('command', 2, body(2));
    spool.append('status', 3, body(3));
    spool.append('telemetry', 4, body(4));
    assert.equal(spool.next(0), null, 'write before send');
    spool.flush();
    assert.deepEqual(
      readAll(spool).map((e) => [e.seq, e.lane]),
      [
        [1, 'telemetry'],
        [2, 'command'],
        [3, 'status'],
        [4, 'telemetry'],
      ],
    );
    spool.close();
  });

  it('batches: many appends within the flush interval are one write per lane', () => {
    const { open, fs, clock } = setup();
    const spool = open();
    const before = fs.writes;
    appendMany(spool, 100);
    appendMany(spool, 10, 'command');
    assert.equal(fs.writes, before, 'nothing written yet');
    clock.advance(50);
    assert.equal(fs.writes - before, 2 + 2, 'one batch per lane (and one header per new segment)');
    assert.equal(readAll(spool).length, 110);
    spool.close();
  });

  it('after a quiet spell a message is written at once; the next batch waits out the interval', () => {
    const { open, clock } = setup();
    const spool = open();
    clock.advance(1_000); // quiet
    spool.append('telemetry', 0, body(1));
    assert.equal(spool.hasUnflushed(), true, 'not inside append: the caller finishes its turn');
    clock.advance(0);
    assert.equal(spool.hasUnflushed(), false, 'written without waiting the interval');
    spool.append('telemetry', 0, body(2));
    clock.advance(49);
    assert.equal(spool.hasUnflushed(), true, 'batches stay flushIntervalMs apart');
    clock.advance(1);
    assert.equal(spool.hasUnflushed(), false);
    assert.deepEqual(
      readAll(spool).map((e) => e.body),
      [body(1), body(2)],
    );
    spool.close();
  });

  it('command replies are written on the next turn even when telemetry waits out the interval', () => {
    const { open, clock } = setup();
    const spool = open();
    appendMany(spool, 1); // a batch now…
    clock.advance(0);
    appendMany(spool, 1); // …so this telemetry waits 50 ms
    spool.append('command', 0, body(7));
    clock.advance(0);
    assert.equal(spool.hasUnflushed(), false, 'the command reply took the waiting telemetry along');
    spool.append('command', 0, body(8));
    clock.advance(0);
    assert.equal(spool.hasUnflushed(), false, 'and the next reply did not wait either');
    spool.close();
  });

  it('fsync policy: always syncs every batch, interval at most once per interval, never not at all', () => {
    for (const [policy, expected] of [
      ['always', 5],
      ['interval', 2],
      ['never', 0],
    ] as const) {
      const { open, fs, clock } = setup({ fsync: policy, fsyncIntervalMs: 200 });
      const spool = open();
      for (let i = 0; i < 5; i++) {
        appendMany(spool, 3);
        clock.advance(100);
      }
      assert.equal(fs.syncs, expected, policy);
      spool.close();
    }
  });

  it('survives a restart: same store, same counter, unacknowledged messages replayed', () => {
    const { open } = setup();
    const first = open();
    appendMany(first, 10);
    first.flush();
    first.acknowledge(4);
    const storeId = first.storeId;
    first.close();

    const second = open();
    assert.equal(second.storeId, storeId);
    assert.equal(second.lastSeq, 10);
    assert.equal(second.ackedSeq, 4);
    assert.deepEqual(
      readAll(second, second.ackedSeq).map((e) => e.seq),
      [5, 6, 7, 8, 9, 10],
    );
    assert.equal(second.append('telemetry', 0, body(11)), 11);
    second.close();
  });

  it('releases whole segments once acknowledged, and never reuses their seqs', () => {
    const { open, dir } = setup({ segmentBytes: 4096 });
    const spool = open();
    for (let i = 0; i < 10; i++) {
      appendMany(spool, 40);
      spool.flush();
    }
    assert.ok(segmentFiles(dir).length > 3, `${segmentFiles(dir).length} segments`);
    spool.acknowledge(400);
    assert.equal(segmentFiles(dir).length, 1, 'only the active segment is left');
    spool.close();
    const again = open();
    assert.equal(again.append('telemetry', 0, body(0)), 401);
    again.close();
  });

  it('at maxBytes drops the oldest telemetry first, keeps command output, and reports the drop', () => {
    const { open, dir, log } = setup({ maxBytes: 16 * 1024, segmentBytes: 4096 });
    const spool = open();
    const commands = appendMany(spool, 20, 'command', Date.UTC(2026, 0, 1));
    spool.flush();
    for (let i = 0; i < 10; i++) {
      appendMany(spool, 40, 'telemetry', Date.UTC(2026, 0, 1, 0, i));
      spool.flush();
    }
    const bytes = segmentFiles(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    assert.ok(bytes <= 16 * 1024, `spool holds ${bytes} bytes`);
    const left = readAll(spool);
    assert.deepEqual(
      left.filter((e) => e.lane === 'command').map((e) => e.seq),
      commands,
      'every command message kept',
    );
    const report = spool.takeDropReport();
    assert.equal(report.length, 1);
    const [drop] = report;
    assert.equal(drop?.lane, 'telemetry');
    assert.equal(drop?.reason, 'storage_full');
    assert.equal((drop?.count ?? 0) + left.filter((e) => e.lane === 'telemetry').length, 400);
    assert.equal(drop?.first_seq, 21, 'the oldest went first');
    assert.equal(drop?.from, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(spool.takeDropReport(), [], 'reported once');
    assert.equal(spool.stats().dropped, drop?.count);
    assert.ok(codes(log.lines).includes('spool_dropped'));
    spool.close();
  });

  it('counts evicted in-flight messages as dropped only if the hub never processed them', () => {
    const { open } = setup({ maxBytes: 8 * 1024, segmentBytes: 4096 });
    const spool = open();
    appendMany(spool, 20);
    spool.flush();
    for (let seq = 1; seq <= 20; seq++) spool.markSent(seq); // sent; acks lost with the link
    for (let i = 0; i < 6; i++) {
      appendMany(spool, 20);
      spool.flush();
    }
    const early = spool.takeDropReport();
    spool.settleInFlight(15); // welcome: the hub had processed up to 15
    const settled = spool.takeDropReport();
    const total = [...early, ...settled].reduce((n, d) => n + d.count, 0);
    const left = readAll(spool, 15).length;
    assert.equal(total + left, 140 - 15, 'every message is delivered, held or counted, once');
    assert.ok(settled.some((d) => d.first_seq === 16 && d.last_seq === 20));
    spool.close();
  });

  it('drops messages past maxAge and reports them with reason max_age', () => {
    const { open, clock } = setup({ maxAgeMs: 60_000, segmentBytes: 4096 });
    const spool = open();
    const old = clock.date().getTime() - 120_000;
    appendMany(spool, 5, 'telemetry', old);
    spool.flush();
    clock.advance(10_000); // a new segment for fresh messages (a segment spans ≤ maxAge/10)
    appendMany(spool, 3, 'telemetry', clock.date().getTime());
    spool.flush();
    assert.deepEqual(
      readAll(spool).map((e) => e.seq),
      [6, 7, 8],
    );
    assert.deepEqual(
      spool.takeDropReport().map((d) => [d.reason, d.count]),
      [['max_age', 5]],
    );
    spool.close();
  });

  it('skips a torn last record with a log line, and replays everything before it', () => {
    const { open, dir, log } = setup();
    const first = open();
    appendMany(first, 5);
    first.close();
    const [segment] = segmentFiles(dir);
    // A record header promising 100 bytes, followed by only 10: the write was cut short.
    const torn = Buffer.alloc(18);
    torn.writeUInt32LE(100, 0);
    appendFileSync(join(dir, segment as string), torn);

    const second = open();
    assert.deepEqual(
      readAll(second).map((e) => e.seq),
      [1, 2, 3, 4, 5],
    );
    const line = log.lines.find((l) => l.code === 'spool_torn_record');
    assert.ok(line, 'torn record logged');
    assert.equal(line.skippedBytes, 18);
    assert.equal(second.append('telemetry', 0, body(6)), 6);
    second.flush();
    assert.equal(readAll(second, 5)[0]?.seq, 6);
    second.close();
  });

  it('on a full disk degrades to memory (messages still sendable), then recovers', () => {
    const { open, fs, clock, log } = setup();
    const spool = open();
    appendMany(spool, 3);
    spool.flush();
    fs.writeError = 'ENOSPC';
    appendMany(spool, 3);
    clock.advance(50);
    assert.equal(spool.mode, 'memory');
    assert.ok(codes(log.lines).includes('storage_degraded'));
    assert.deepEqual(
      readAll(spool).map((e) => e.seq),
      [1, 2, 3, 4, 5, 6],
      'the disk part and the memory part, in order',
    );
    clock.advance(1_000);
    assert.equal(spool.mode, 'memory', 'still failing: still in memory');
    fs.writeError = null;
    clock.advance(1_000);
    assert.equal(spool.mode, 'disk');
    assert.ok(codes(log.lines).includes('storage_recovered'));
    spool.close();
    const again = open();
    assert.deepEqual(
      readAll(again).map((e) => e.seq),
      [1, 2, 3, 4, 5, 6],
      'the memory part was written on recovery',
    );
    again.close();
  });

  it('a short write leaves no torn record behind', () => {
    const { open, fs, clock, log } = setup();
    const spool = open();
    appendMany(spool, 2);
    spool.flush();
    fs.shortWriteBytes = 7;
    appendMany(spool, 2);
    spool.flush();
    assert.equal(spool.mode, 'memory');
    fs.writeError = null;
    clock.advance(1_000);
    spool.close();
    const again = open();
    assert.deepEqual(
      readAll(again).map((e) => e.seq),
      [1, 2, 3, 4],
    );
    assert.ok(!codes(log.lines).includes('spool_torn_record'), 'the partial tail was cut off');
    again.close();
  });

  it('with a directory it cannot open starts in memory with its own store identity', () => {
    const { open, fs, clock } = setup();
    fs.writeError = 'EROFS';
    const spool = open();
    assert.equal(spool.mode, 'memory');
    appendMany(spool, 2);
    assert.deepEqual(
      readAll(spool).map((e) => e.seq),
      [1, 2],
    );
    fs.writeError = null;
    clock.advance(1_000);
    assert.equal(spool.mode, 'disk');
    const id = spool.storeId;
    spool.close();
    assert.equal(open().storeId, id, 'the memory identity became the stored one');
  });

  it('bounds memory while the disk is gone: the oldest telemetry goes, counted', () => {
    const { open, fs } = setup({ memoryMaxMessages: 10 });
    fs.writeError = 'EIO';
    const spool = open();
    appendMany(spool, 5, 'command');
    appendMany(spool, 20, 'telemetry');
    const left = readAll(spool);
    assert.equal(left.length, 10);
    assert.equal(left.filter((e) => e.lane === 'command').length, 5);
    assert.deepEqual(
      spool.takeDropReport().map((d) => [d.lane, d.reason, d.count]),
      [['telemetry', 'memory_full', 15]],
    );
    spool.close();
  });

  it('rotating the store starts acknowledgements over and numbers on above the hub’s seq', () => {
    const { open } = setup();
    const spool = open();
    appendMany(spool, 3);
    spool.flush();
    spool.acknowledge(2);
    const before = spool.storeId;
    spool.rotateStore(9);
    assert.notEqual(spool.storeId, before);
    assert.equal(spool.ackedSeq, 0);
    assert.equal(spool.append('telemetry', 0, body(4)), 10, 'numbering goes on above the hub’s');
    spool.close();
  });
});
