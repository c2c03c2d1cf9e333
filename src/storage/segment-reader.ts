import { MAX_RECORD_BYTES, SEGMENT_MAGIC, decodeRecord, type SpoolEntry } from './record-codec.js';
import type { SegmentInfo } from './segment.js';
import type { SpoolFs } from './spool-fs.js';

/**
 * Reads one segment's records in order, a chunk at a time, up to the segment's `end` (which
 * grows while the segment is active: a reader that is caught up simply answers `end` and can
 * be asked again later). Memory stays at one chunk whatever the segment's size.
 */
export type ReadResult =
  | { kind: 'entry'; entry: SpoolEntry }
  | { kind: 'end' }
  | { kind: 'corrupt'; offset: number; reason: string };

const CHUNK_BYTES = 64 * 1024;

export class SegmentReader {
  readonly segment: SegmentInfo;
  readonly #fs: SpoolFs;
  #fd: number | null = null;
  #buffer = Buffer.alloc(0);
  #bufferStart = 0;
  #bufferLength = 0;
  #offset = SEGMENT_MAGIC.length;

  constructor(fs: SpoolFs, segment: SegmentInfo) {
    this.#fs = fs;
    this.segment = segment;
  }

  /** File offset of the next record. */
  get offset(): number {
    return this.#offset;
  }

  /** Checks the segment's magic header; a reader of a file without it yields nothing. */
  checkHeader(): boolean {
    const header = Buffer.alloc(SEGMENT_MAGIC.length);
    const n = this.#fs.read(this.#open(), header, 0);
    return n === header.length && header.equals(SEGMENT_MAGIC);
  }

  /** Throws only what the file system throws (EIO and the like). */
  next(): ReadResult {
    for (;;) {
      const end = this.segment.end;
      if (this.#offset >= end) return { kind: 'end' };
      const written = this.segment.written?.get(this.#offset);
      if (written) {
        // Appended by this process a moment ago: no need to read it back and check it again.
        this.segment.written?.delete(this.#offset);
        this.#offset += written.bytes;
        return { kind: 'entry', entry: written.entry };
      }
      const relative = this.#offset - this.#bufferStart;
      const available = Math.min(this.#bufferLength, end - this.#bufferStart);
      if (relative >= 0 && relative < available) {
        const result = decodeRecord(this.#buffer, relative, available);
        if (result.kind === 'record') {
          this.#offset += result.bytes;
          return { kind: 'entry', entry: result.entry };
        }
        if (result.kind === 'corrupt')
          return { kind: 'corrupt', offset: this.#offset, reason: result.reason };
        if (this.#bufferStart + available >= end) {
          return { kind: 'corrupt', offset: this.#offset, reason: 'record runs past the end' };
        }
      }
      if (!this.#fill(relative, available)) {
        return { kind: 'corrupt', offset: this.#offset, reason: 'file shorter than expected' };
      }
    }
  }

  close(): void {
    if (this.#fd !== null) this.#fs.close(this.#fd);
    this.#fd = null;
  }

  /** Reads from the next record on: at least a chunk, or the whole record if it is larger. */
  #fill(relative: number, available: number): boolean {
    let wanted = CHUNK_BYTES;
    if (relative >= 0 && available - relative >= 4) {
      wanted = Math.max(
        wanted,
        Math.min(this.#buffer.readUInt32LE(relative) + 8, MAX_RECORD_BYTES),
      );
    }
    wanted = Math.min(wanted, this.segment.end - this.#offset);
    if (this.#buffer.length < wanted) this.#buffer = Buffer.allocUnsafe(wanted);
    const n = this.#fs.read(this.#open(), this.#buffer.subarray(0, wanted), this.#offset);
    this.#bufferStart = this.#offset;
    this.#bufferLength = n;
    return n === wanted;
  }

  #open(): number {
    this.#fd ??= this.#fs.openRead(this.segment.path);
    return this.#fd;
  }
}
