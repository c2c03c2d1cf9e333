import { join } from 'node:path';
import { LANES, type Lane } from './lanes.js';
import type { SpoolEntry } from './record-codec.js';

/**
 * What the spool knows of one segment file without reading it again: its lane, the range of
 * seqs and device times it holds, and where its valid records end. Files are named
 * `<lane>-<first seq, 16 digits>.seg`, so a directory listing sorts each lane oldest first.
 */
export interface SegmentInfo {
  readonly lane: Lane;
  readonly path: string;
  /** Bytes of the header and valid records: readers stop here. */
  end: number;
  count: number;
  firstSeq: number;
  lastSeq: number;
  firstTsMs: number;
  lastTsMs: number;
  /** Still being appended to. */
  active: boolean;
  /**
   * Records this process appended to the active segment and no reader has taken yet, by file
   * offset: a reader takes them from here instead of reading the file back (the write stays:
   * it is what survives a crash). At most one segment's worth, dropped when the segment closes.
   */
  written?: Map<number, { entry: SpoolEntry; bytes: number }>;
}

const NAME = /^([a-z]+)-(\d{16})\.seg$/;

export function segmentFileName(lane: Lane, firstSeq: number): string {
  return `${lane}-${String(firstSeq).padStart(16, '0')}.seg`;
}

export function parseSegmentFileName(name: string): { lane: Lane; firstSeq: number } | null {
  const match = NAME.exec(name);
  if (!match) return null;
  const lane = LANES.find((l) => l === match[1]);
  return lane ? { lane, firstSeq: Number(match[2]) } : null;
}

export function newSegmentInfo(
  dir: string,
  lane: Lane,
  firstSeq: number,
  end: number,
): SegmentInfo {
  return {
    lane,
    path: join(dir, segmentFileName(lane, firstSeq)),
    end,
    count: 0,
    firstSeq,
    lastSeq: 0,
    firstTsMs: 0,
    lastTsMs: 0,
    active: false,
  };
}

/** Notes one more record in the segment's summary. */
export function noteRecord(segment: SegmentInfo, seq: number, tsMs: number, bytes: number): void {
  if (segment.count === 0) {
    segment.firstSeq = seq;
    segment.firstTsMs = tsMs;
  }
  segment.count++;
  segment.lastSeq = seq;
  segment.lastTsMs = Math.max(segment.lastTsMs, tsMs);
  segment.end += bytes;
}
