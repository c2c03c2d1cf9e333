import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SpoolLockedError, lockSpoolDir } from '../../src/storage/spool-lock.js';
import { captureLogger } from '../helpers/log-capture.js';

const { logger } = captureLogger();

describe('lockSpoolDir', () => {
  it('refuses a second holder of one directory, by any path, naming the first; free once released', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-lock-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const alias = `${dir}-alias`;
    symlinkSync(dir, alias);
    t.after(() => rmSync(alias, { force: true }));
    const first = await lockSpoolDir(dir, { logger, pid: 4242 });
    await assert.rejects(lockSpoolDir(alias, { logger, pid: 5353 }), (err: unknown) => {
      assert.ok(err instanceof SpoolLockedError);
      assert.equal(err.code, 'spool_locked');
      assert.equal(err.holderPid, 4242);
      assert.match(err.message, /in use by another iottly-agent \(pid 4242\)/);
      return true;
    });
    const other = mkdtempSync(join(tmpdir(), 'spool-lock-'));
    t.after(() => rmSync(other, { recursive: true, force: true }));
    const elsewhere = await lockSpoolDir(other, { logger });
    await elsewhere.release();
    await first.release();
    const again = await lockSpoolDir(alias, { logger });
    await again.release();
  });

  it('runs unlocked, and says so, where it cannot lock', async () => {
    const log = captureLogger();
    const lock = await lockSpoolDir('/nonexistent', { logger: log.logger, platform: 'darwin' });
    await lock.release();
    assert.equal(log.lines[0]?.code, 'spool_lock_unavailable');
  });
});
