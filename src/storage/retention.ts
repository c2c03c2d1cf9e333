import { LANES } from './lanes.js';
import type { DropReason } from './drop-ledger.js';
import type { SegmentInfo } from './segment.js';

/**
 * Which segments to give up, as a pure function of what the spool holds: first every segment
 * whose newest message is older than `maxAgeMs`, then, while the spool is above `maxBytes`,
 * the oldest segments lane by lane in eviction order (telemetry first, status reports last).
 * Eviction is per segment: whole files are deleted, never rewritten.
 */
export interface RetentionLimits {
  maxBytes: number;
  /** 0: no age limit. */
  maxAgeMs: number;
}

export interface Eviction {
  segment: SegmentInfo;
  reason: DropReason;
}

export function chooseEvictions(
  segments: readonly SegmentInfo[],
  limits: RetentionLimits,
  nowMs: number,
): Eviction[] {
  const evictions: Eviction[] = [];
  const chosen = new Set<SegmentInfo>();
  let total = segments.reduce((sum, s) => sum + s.end, 0);
  const take = (segment: SegmentInfo, reason: DropReason): void => {
    evictions.push({ segment, reason });
    chosen.add(segment);
    total -= segment.end;
  };
  if (limits.maxAgeMs > 0) {
    for (const segment of segments) {
      if (segment.count > 0 && segment.lastTsMs < nowMs - limits.maxAgeMs) take(segment, 'max_age');
    }
  }
  for (const lane of LANES) {
    if (total <= limits.maxBytes) break;
    const oldestFirst = segments
      .filter((s) => s.lane === lane && s.count > 0 && !chosen.has(s))
      .sort((a, b) => a.firstSeq - b.firstSeq);
    for (const segment of oldestFirst) {
      if (total <= limits.maxBytes) break;
      take(segment, 'storage_full');
    }
  }
  return evictions;
}
