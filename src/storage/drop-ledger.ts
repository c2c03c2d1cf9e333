import { LANES, type Lane } from './lanes.js';

/**
 * Every message the spool gives up, counted: by lane and reason, with the range of seqs and
 * device times. Drops are never silent: what accumulates here is reported upstream as a
 * `status` message after the next connect (`takeReport`), and the totals stay in the stats.
 */
export type DropReason =
  | 'storage_full'
  | 'max_age'
  | 'memory_full'
  | 'disk_error'
  /** Held by an earlier store that could not be continued (see Spool: opened late). */
  | 'store_abandoned';

export interface DropRecord {
  lane: Lane;
  reason: DropReason;
  count: number;
  first_seq: number;
  last_seq: number;
  /** Device time of the oldest and newest message dropped, ISO-8601 UTC. */
  from: string;
  to: string;
  /**
   * Set when the seqs are those of an earlier store, not the one the report is sent from (its
   * numbering overlaps the current one's).
   */
  store_id?: string;
}

export interface DroppedRange {
  count: number;
  firstSeq: number;
  lastSeq: number;
  fromMs: number;
  toMs: number;
}

export class DropLedger {
  #pending: DropRecord[] = [];
  readonly #totals = new Map<Lane, number>(LANES.map((lane) => [lane, 0]));

  constructor(pending: DropRecord[] = []) {
    for (const record of pending) this.#merge(record);
  }

  note(lane: Lane, reason: DropReason, range: DroppedRange, storeId?: string): void {
    if (range.count <= 0) return;
    this.#merge({
      ...(storeId === undefined ? {} : { store_id: storeId }),
      lane,
      reason,
      count: range.count,
      first_seq: range.firstSeq,
      last_seq: range.lastSeq,
      from: new Date(range.fromMs).toISOString(),
      to: new Date(range.toMs).toISOString(),
    });
  }

  /** A drop recorded elsewhere (an earlier store's unreported drops), to be reported here. */
  add(record: DropRecord): void {
    this.#merge(record);
  }

  /** Drops not yet reported upstream. */
  pending(): DropRecord[] {
    return this.#pending.map((record) => ({ ...record }));
  }

  /** Hands over the unreported drops and forgets them (the totals stay). */
  takeReport(): DropRecord[] {
    const report = this.#pending;
    this.#pending = [];
    return report;
  }

  total(): number {
    let sum = 0;
    for (const count of this.#totals.values()) sum += count;
    return sum;
  }

  totalsByLane(): Record<Lane, number> {
    return Object.fromEntries(this.#totals) as Record<Lane, number>;
  }

  /** One line per lane, reason and store: a long outage yields a short report. */
  #merge(record: DropRecord): void {
    this.#totals.set(record.lane, (this.#totals.get(record.lane) ?? 0) + record.count);
    const same = this.#pending.find(
      (r) => r.lane === record.lane && r.reason === record.reason && r.store_id === record.store_id,
    );
    if (!same) {
      this.#pending.push({ ...record });
      return;
    }
    same.count += record.count;
    same.first_seq = Math.min(same.first_seq, record.first_seq);
    same.last_seq = Math.max(same.last_seq, record.last_seq);
    if (record.from < same.from) same.from = record.from;
    if (record.to > same.to) same.to = record.to;
  }
}
