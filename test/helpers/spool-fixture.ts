import { readdirSync, rmSync } from 'node:fs';
import type { Lane } from '../../src/storage/lanes.js';
import type { SpoolEntry } from '../../src/storage/record-codec.js';
import { Spool, type SpoolOptions } from '../../src/storage/spool.js';
import { FakeClock } from './fake-clock.js';
import { FaultyFs } from './faulty-fs.js';
import { captureLogger } from './log-capture.js';
import { tempDir } from './temp-dir.js';

/**
 * The spool on real files in a temp dir, with a fake clock and injectable disk faults. `open`
 * makes a Spool on the same directory (a restart); `remove` deletes the directory.
 */
export function spoolFixture(overrides: Partial<SpoolOptions> = {}) {
  const dir = overrides.dir ?? tempDir('spool-test-');
  const fs = new FaultyFs();
  const clock = new FakeClock();
  const log = captureLogger();
  let stores = 0;
  const open = (more: Partial<SpoolOptions> = {}): Spool => {
    const spool = new Spool({
      dir,
      deviceId: 'dev1',
      maxBytes: 1 << 20,
      maxAgeMs: 0,
      flushIntervalMs: 50,
      fsync: 'never',
      fsyncIntervalMs: 1_000,
      retryIntervalMs: 1_000,
      memoryMaxMessages: 1_000,
      memoryMaxBytes: 1 << 20,
      // Most spool tests are about the disk path; memory first says so where it is meant.
      writeBeforeSend: true,
      spillAfterMs: 1_000,
      spillAtBytes: 256 * 1024,
      fs,
      clock,
      logger: log.logger,
      newStoreId: () => `store-${++stores}-abcdef`,
      ...overrides,
      ...more,
    });
    spool.start();
    return spool;
  };
  const remove = () => rmSync(dir, { recursive: true, force: true });
  return { dir, fs, clock, log, open, remove };
}

export const spoolBody = (n: number) => JSON.stringify({ type: 'telemetry', payload: { n } });

export function appendMany(
  spool: Spool,
  count: number,
  lane: Lane = 'telemetry',
  tsMs = 0,
): number[] {
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) seqs.push(spool.append(lane, tsMs, spoolBody(i)));
  return seqs;
}

/** Every sendable entry above `after`, as the outbox would take them. */
export function readAll(spool: Spool, after = 0): SpoolEntry[] {
  const out: SpoolEntry[] = [];
  for (let e = spool.next(after); e; e = spool.next(after)) {
    out.push(e);
    after = e.seq;
  }
  return out;
}

export const logCodes = (lines: Array<{ code?: string }>) =>
  lines.flatMap((l) => (l.code ? [l.code] : []));

export const segmentFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.seg'));
