import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { appendMany, logCodes, readAll, spoolFixture } from '../helpers/spool-fixture.js';

/**
 * A spool that cannot open its directory at start runs from memory under a store of its own;
 * when the directory opens later, the store found there cannot be continued. Every message it
 * held that the hub had not acknowledged is reported, with its own store_id and seq range, and
 * the memory store's seqs only ever grow.
 */
describe('Spool opened late', () => {
  for (const { onDisk, acked, fault } of [
    { onDisk: 12, acked: 0, fault: 'directory' }, // the case: 12 on disk, "dropped 4"
    { onDisk: 16, acked: 4, fault: 'directory' },
    { onDisk: 12, acked: 3, fault: 'EIO' },
  ]) {
    it(`reports every unacknowledged message of the store found on disk (${onDisk} on disk, ${acked} acknowledged, ${fault} at start)`, (t) => {
      const { dir, fs, open, clock, log, remove } = spoolFixture();
      t.after(remove);
      const first = open();
      appendMany(first, onDisk, 'telemetry', Date.UTC(2026, 0, 1));
      first.flush();
      first.acknowledge(acked); // the hub had processed these
      const diskStore = first.storeId;
      first.close();

      // A directory named like a segment, or a failing card: the store cannot be read at start.
      const obstruction = join(dir, 'telemetry-9999999999999999.seg');
      if (fault === 'directory') mkdirSync(obstruction);
      else fs.readError = fault;
      const late = open();
      assert.equal(late.mode, 'memory');
      assert.notEqual(late.storeId, diskStore, 'the memory phase has a store of its own');
      appendMany(late, 8, 'telemetry', Date.UTC(2026, 0, 2));
      const sent = readAll(late);
      assert.deepEqual(
        sent.map((e) => e.seq),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
      for (const e of sent) late.markSent(e.seq);
      late.acknowledge(8); // the hub processed the memory store's 1..8

      if (fault === 'directory') rmdirSync(obstruction);
      else fs.readError = null;
      clock.advance(1_000); // the retry opens the directory
      assert.equal(late.mode, 'disk');
      const report = late.takeDropReport();
      assert.deepEqual(
        report.map((d) => [d.lane, d.reason, d.count, d.first_seq, d.last_seq, d.store_id]),
        [['telemetry', 'store_abandoned', onDisk - acked, acked + 1, onDisk, diskStore]],
        'every unacknowledged message on disk reported, in the disk store’s numbering',
      );
      assert.ok(logCodes(log.lines).includes('spool_dropped'));
      const next = late.append('telemetry', 0, 'x');
      assert.ok(next > 8, `the memory store numbers on (${next})`);
      late.close();
    });
  }
});
