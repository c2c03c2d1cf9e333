import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_SEQ } from '../../src/protocol/fields.js';
import { MAX_SEQ_BASE } from '../../src/protocol/seq-range.js';
import {
  appendMany,
  logCodes,
  readAll,
  segmentFiles,
  spoolFixture,
} from '../helpers/spool-fixture.js';

/** Whose store a spool directory holds, and whether its counter can be numbered on from. */
function editMeta(dir: string, edit: (meta: Record<string, unknown>) => void): void {
  const path = join(dir, 'store.json');
  const meta = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(meta);
  writeFileSync(path, JSON.stringify(meta));
}

const storedMeta = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'store.json'), 'utf8')) as Record<string, unknown>;

describe('Spool identity', () => {
  it('moves a store written under another device id aside and never replays it', (t) => {
    const { dir, open, log, remove } = spoolFixture();
    t.after(remove);
    const theirs = open({ deviceId: 'pi-17' });
    appendMany(theirs, 5);
    theirs.close();
    const theirStore = theirs.storeId;

    const ours = open({ deviceId: 'pi-18' });
    assert.notEqual(ours.storeId, theirStore, 'a new store');
    assert.equal(ours.lastSeq, 0, 'numbering starts over');
    assert.deepEqual(readAll(ours), [], 'nothing of pi-17 is sent as pi-18');
    const line = log.lines.find((l) => l.code === 'spool_device_changed');
    assert.ok(line, 'said so');
    assert.equal(line.storeDevice, 'pi-17');
    const aside = join(dir, `orphaned-pi-17-${theirStore}`);
    assert.equal(line.aside, aside);
    assert.equal(segmentFiles(aside).length, 1, 'their segment kept');
    assert.ok(readdirSync(aside).includes('store.json'), 'their store.json kept');
    assert.equal(ours.append('telemetry', 0, 'x'), 1);
    ours.close();
    assert.equal(storedMeta(dir).device_id, 'pi-18');
  });

  it('adopts a store.json of an earlier version, which recorded no device id', (t) => {
    const { dir, open, remove } = spoolFixture();
    t.after(remove);
    const first = open();
    appendMany(first, 3);
    first.close();
    editMeta(dir, (meta) => delete meta.device_id);

    const again = open({ deviceId: 'dev1' });
    assert.equal(again.storeId, first.storeId);
    assert.deepEqual(
      readAll(again).map((e) => e.seq),
      [1, 2, 3],
    );
    again.close();
    assert.equal(storedMeta(dir).device_id, 'dev1', 'recorded from now on');
  });

  it('starts a new store when store.json holds a floor no seq fits above (poisoned by a hub)', (t) => {
    const { dir, open, clock, log, remove } = spoolFixture();
    t.after(remove);
    const first = open();
    appendMany(first, 3);
    first.close();
    editMeta(dir, (meta) => (meta.seq_floor = MAX_SEQ)); // what an earlier version stored

    const again = open();
    assert.ok(logCodes(log.lines).includes('spool_seq_invalid'), 'said so');
    assert.notEqual(again.storeId, first.storeId, 'a new store identity');
    const seq = again.append('telemetry', 0, 'x');
    assert.ok(seq >= 1 && seq <= MAX_SEQ_BASE, `seq ${seq}`);
    clock.advance(100);
    assert.equal(again.mode, 'disk', 'the write succeeded');
    assert.deepEqual(
      readAll(again).map((e) => e.seq),
      [1, 2, 3, 4],
      'the messages on disk are replayed under the new store',
    );
    again.close();
    assert.ok((storedMeta(dir).seq_floor as number) <= MAX_SEQ_BASE, 'the bad floor is gone');
  });
});
