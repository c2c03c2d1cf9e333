import type { Lane } from './lanes.js';
import { SEGMENT_MAGIC, type SpoolEntry } from './record-codec.js';
import { newSegmentInfo, noteRecord, type SegmentInfo } from './segment.js';
import type { SpoolFs } from './spool-fs.js';

/**
 * Appends batches of encoded records to a lane's active segment. A batch is one write; if the
 * disk takes only part of it (full, or gone read-only) the partial tail is cut off again so the
 * file ends on a whole record, and the writer refuses further appends: the spool starts a new
 * segment once the disk recovers. If even the cut fails, the segment's `end` still stops
 * readers at the last whole record, and the next start-up reports and skips the torn tail.
 */
export class SegmentWriteError extends Error {
  readonly code: string;

  constructor(message: string, options: { cause: unknown; code: string }) {
    super(message, { cause: options.cause });
    this.name = 'SegmentWriteError';
    this.code = options.code;
  }
}

export class SegmentWriter {
  readonly segment: SegmentInfo;
  readonly #fs: SpoolFs;
  #fd: number | null;
  #unsynced = false;
  readonly #openedAtMs: number;

  /** Creates the segment file (empty, with its header). Throws what the file system throws. */
  static create(
    fs: SpoolFs,
    dir: string,
    lane: Lane,
    firstSeq: number,
    nowMs: number,
  ): SegmentWriter {
    const segment = newSegmentInfo(dir, lane, firstSeq, 0);
    const fd = fs.openAppend(segment.path);
    try {
      fs.truncate(fd, 0); // a leftover file of the same name (a failed first batch) starts over
      writeAll(fs, fd, SEGMENT_MAGIC);
    } catch (err) {
      fs.close(fd);
      throw err;
    }
    segment.active = true;
    segment.end = SEGMENT_MAGIC.length;
    return new SegmentWriter(fs, segment, fd, nowMs);
  }

  private constructor(fs: SpoolFs, segment: SegmentInfo, fd: number, openedAtMs: number) {
    this.#fs = fs;
    this.segment = segment;
    this.#fd = fd;
    this.#openedAtMs = openedAtMs;
  }

  get openedAtMs(): number {
    return this.#openedAtMs;
  }

  get usable(): boolean {
    return this.#fd !== null;
  }

  /** Writes the records as one batch; on failure the writer is closed and the error thrown. */
  append(encoded: Buffer, entries: readonly SpoolEntry[], sizes: readonly number[]): void {
    const fd = this.#fd;
    if (fd === null) throw new Error('segment writer is closed');
    const before = this.segment.end;
    try {
      writeAll(this.#fs, fd, encoded);
    } catch (err) {
      try {
        this.#fs.truncate(fd, before);
      } catch {
        // the segment's `end` still excludes the partial tail; start-up will skip it
      }
      this.close();
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw new SegmentWriteError(`cannot write ${this.segment.path}: ${code}`, {
        cause: err,
        code,
      });
    }
    this.#unsynced = true;
    const written = (this.segment.written ??= new Map());
    let offset = before;
    entries.forEach((entry, i) => {
      const bytes = sizes[i] ?? 0;
      written.set(offset, { entry, bytes });
      offset += bytes;
      noteRecord(this.segment, entry.seq, entry.tsMs, bytes);
    });
  }

  /** fdatasync if anything was written since the last one. */
  sync(): void {
    if (this.#fd === null || !this.#unsynced) return;
    this.#fs.datasync(this.#fd);
    this.#unsynced = false;
  }

  close(): void {
    this.segment.active = false;
    delete this.segment.written; // a reader behind reads the rest from the file
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    try {
      this.#fs.close(fd);
    } catch {
      // nothing more to lose: the data was written or the error already reported
    }
  }
}

/** Writes all of `data`; a write that takes nothing is a full disk (ENOSPC). */
function writeAll(fs: SpoolFs, fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.length) {
    const n = fs.write(fd, data.subarray(offset));
    if (n <= 0) {
      throw Object.assign(new Error('short write: the disk took no more bytes'), {
        code: 'ENOSPC',
      });
    }
    offset += n;
  }
}
