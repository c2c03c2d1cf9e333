import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../time/clock.js';
import { DropLedger, type DropReason, type DropRecord, type DroppedRange } from './drop-ledger.js';
import { FsyncSchedule, type FsyncPolicy } from './fsync-policy.js';
import { LANES, type Lane } from './lanes.js';
import { SEGMENT_MAGIC, encodeRecords, type SpoolEntry } from './record-codec.js';
import { chooseEvictions } from './retention.js';
import { newSegmentInfo, noteRecord, parseSegmentFileName, type SegmentInfo } from './segment.js';
import { SegmentReader } from './segment-reader.js';
import { SegmentWriter } from './segment-writer.js';
import { isUsableSeqBase } from '../protocol/seq-range.js';
import { errnoOf, type SpoolFs } from './spool-fs.js';
import { META_FILE, metaPath, readMeta, writeMeta, type StoreMeta } from './store-meta.js';
import { LogCode } from '../log/log-codes.js';

/**
 * The spool: every message the agent sends lives here, numbered by `seq`, until the hub
 * acknowledges it.
 *
 *     append ─▶ pending (memory) ─flush (batched)─▶ lane segment files ─▶ next(after) ─▶ outbox
 *                                                                   ack ─▶ release whole segments
 *
 * Two ways to use the disk (`writeBeforeSend`):
 * - Write before send: in disk mode only flushed records are handed out, so whatever the hub
 *   may have seen is in the kernel and survives `kill -9`; the seq counter can never go back
 *   below a seq that left the process.
 * - Memory first (the default): while the link is up, pending records are sendable at once and
 *   most are acknowledged before they are ever written. A record is written (spilled) once it
 *   has waited `spillAfterMs` unacknowledged, when pending records pass `spillAtBytes`, when the
 *   link goes down (and, while it is down, as in write before send), and at close. `kill -9`
 *   loses at most the unacknowledged records of the last `spillAfterMs`. The counter is
 *   protected by a reservation: store.json promises the next run a floor `SEQ_RESERVATION`
 *   seqs ahead of the last one given out, renewed when it is reached, so a seq that left the
 *   process is never given out again even if its record never reached the disk.
 * - Bounded: `maxBytes` and `maxAgeMs` over all segments, oldest telemetry evicted first
 *   (retention.ts); pending memory is bounded by `memoryMaxMessages`/`memoryMaxBytes` too.
 *   Every eviction is counted in the drop ledger.
 * - Degraded: when the disk refuses a write (full, read-only, gone), the spool logs once and
 *   runs from memory: pending records become sendable as they are. Every `retryIntervalMs` it
 *   tries to write them again, and on success is back on disk.
 * - Start-up replays what the segments hold; a torn record is logged and skipped. A store of
 *   another device is moved aside, never replayed; a store.json whose seqs cannot be numbered
 *   on from starts a new store identity.
 * - Opened late (the directory was unreadable at start): the messages numbered in memory belong
 *   to a store of their own, which the hub may already have processed, so the store found on
 *   disk cannot be continued. Its unacknowledged messages are reported as dropped
 *   (`store_abandoned`, with its store_id and seq range), never silently lost.
 *
 * `mode`: `disk` ─write fails─▶ `memory` ─retry succeeds─▶ `disk`.
 */
export interface SpoolOptions {
  dir: string;
  /** Recorded in store.json: a store written under another device id is never replayed. */
  deviceId: string;
  maxBytes: number;
  /** 0: no age limit. */
  maxAgeMs: number;
  /** Size at which a segment is closed and a new one begun (default: maxBytes/16, 4 KiB–1 MiB). */
  segmentBytes?: number;
  flushIntervalMs: number;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  retryIntervalMs: number;
  memoryMaxMessages: number;
  memoryMaxBytes: number;
  /** True: every record on disk before it is sent; false: memory first (see above). */
  writeBeforeSend: boolean;
  /** Memory first: an unacknowledged record is written once it is this old. */
  spillAfterMs: number;
  /** Memory first: pending records past this many bytes are written at once. */
  spillAtBytes: number;
  fs: SpoolFs;
  clock: Clock;
  logger: Logger;
  newStoreId: () => string;
  /**
   * Runs `flush` after the current turn for a command reply (default: the clock's 0 ms timer).
   * Node's 0 ms timer waits a whole millisecond; the agent passes `setImmediate`, which runs
   * after the turn's I/O: a keystroke's echo in a shell session is such a reply.
   */
  afterTurn?: (run: () => void) => void;
  /** Records became available to `next` (a batch was flushed). */
  onSendable?: () => void;
  /** The spool is on disk again after running from memory (or opened late): drops to report. */
  onRecovered?: () => void;
}

export type SpoolMode = 'disk' | 'memory';

export interface SpoolStats {
  mode: SpoolMode;
  /** Bytes of segment files on disk. */
  bytes: number;
  segments: number;
  /** Messages held (on disk or in memory) until their segment is released. */
  held: number;
  /** Messages in memory not yet on disk. */
  pending: number;
  dropped: number;
  droppedByLane: Record<Lane, number>;
}

/** A record not on disk yet, with when it was appended (for spilling it in time). */
interface PendingEntry extends SpoolEntry {
  readonly appendedAtMs: number;
}

interface LaneState {
  readonly lane: Lane;
  /** Oldest first; the active segment, if any, is last. */
  segments: SegmentInfo[];
  writer: SegmentWriter | null;
  pending: PendingEntry[];
  reader: SegmentReader | null;
  peeked: SpoolEntry | null;
}

const MIN_SEGMENT_BYTES = 4 * 1024;
const MAX_SEGMENT_BYTES = 1024 * 1024;
/** A batch this big is written at once instead of waiting for the flush timer. */
const FLUSH_BYTES = 256 * 1024;
/** How often an idle spool looks for messages past `maxAgeMs`. */
const MAINTENANCE_MS = 60_000;
/** The acknowledged seq is saved at most this often (it only saves resending). */
const META_SAVE_MS = 1_000;
/**
 * Memory first: how far ahead of the last seq given out store.json's floor is promised. One
 * store.json write per this many messages (at the default telemetry rate, one every few days);
 * a `kill -9` makes the next run skip at most this many seqs, which the hub takes as a gap.
 */
export const SEQ_RESERVATION = 65_536;

export class Spool {
  readonly #o: SpoolOptions;
  readonly #logger: Logger;
  readonly #segmentBytes: number;
  readonly #lanes: Map<Lane, LaneState>;
  readonly #fsync: FsyncSchedule;
  #drops = new DropLedger();
  #mode: SpoolMode = 'disk';
  /** The directory has been read at least once (its store adopted, or found empty). */
  #opened = false;
  #storeId: string;
  #lastSeq = 0;
  #ackedSeq = 0;
  #seqFloor = 0;
  #pendingBytes = 0;
  #cursorAfter = 0;
  /** Highest seq handed to the link (since start): the hub may have processed up to here. */
  #sentThrough = 0;
  /**
   * Evicted messages that had been sent but not acknowledged: the hub may have them. The next
   * acknowledgement (or welcome) decides whether each is delivered or dropped. At most a
   * window's worth.
   */
  #uncertain: Array<{ seq: number; lane: Lane; tsMs: number }> = [];
  #flushTimer: TimerHandle | null = null;
  /** When the pending flush timer fires (clock.now() scale). */
  #flushDueMs = Number.POSITIVE_INFINITY;
  /** When the last batch was written, for spacing batches `flushIntervalMs` apart. */
  #lastFlushMs = Number.NEGATIVE_INFINITY;
  #retryTimer: TimerHandle | null = null;
  #metaTimer: TimerHandle | null = null;
  #maintenanceTimer: TimerHandle | null = null;
  #spillTimer: TimerHandle | null = null;
  /** Memory first: the floor store.json promises (seqs up to it may have left unwritten). */
  #reservedSeq = 0;
  /** Memory first: the outbox has a link (records go out at once and wait in memory). */
  #online = false;
  #started = false;
  #closed = false;

  constructor(options: SpoolOptions) {
    this.#o = options;
    this.#logger = options.logger;
    this.#segmentBytes =
      options.segmentBytes ??
      Math.min(MAX_SEGMENT_BYTES, Math.max(MIN_SEGMENT_BYTES, Math.floor(options.maxBytes / 16)));
    this.#lanes = new Map(
      LANES.map((lane) => [
        lane,
        { lane, segments: [], writer: null, pending: [], reader: null, peeked: null },
      ]),
    );
    this.#fsync = new FsyncSchedule(options.fsync, options.fsyncIntervalMs, options.clock);
    this.#storeId = options.newStoreId();
  }

  /**
   * Reads the directory (store meta and every segment). A directory that cannot be read leaves
   * the spool running from memory, retrying as a degraded disk would. Called once.
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    try {
      this.#open();
    } catch (err) {
      this.#degrade(err, 'cannot open the spool directory');
    }
    this.#scheduleMaintenance();
  }

  get storeId(): string {
    return this.#storeId;
  }

  /** The highest seq given out. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  get mode(): SpoolMode {
    return this.#mode;
  }

  /** Adds a message (its JSON, compact or not: record-codec.ts); returns its seq. It becomes sendable once flushed (at once in memory mode). */
  append(lane: Lane, tsMs: number, body: string | Uint8Array, compact = false): number {
    // A message numbered before the store is read would make it a store opened late, whose
    // unacknowledged messages are given up (#open): the store is read first.
    if (!this.#started) throw new Error('spool: append before start()');
    const appendedAtMs = this.#o.clock.now();
    const entry: PendingEntry = { seq: ++this.#lastSeq, lane, tsMs, body, compact, appendedAtMs };
    if (this.#sendsFromMemory() && entry.seq > this.#reservedSeq) this.#reserveSeqs();
    this.#state(lane).pending.push(entry);
    this.#pendingBytes += body.length;
    if (this.#mode === 'disk') {
      if (!this.#sendsFromMemory()) {
        if (this.#pendingBytes >= FLUSH_BYTES) this.flush();
        else this.#scheduleFlush(lane === 'command' ? 0 : this.#flushDelay());
      } else if (
        this.#pendingBytes >= this.#o.spillAtBytes ||
        this.#unflushedCount() >= this.#o.memoryMaxMessages
      ) {
        this.flush(); // to disk rather than past the memory bounds, where records are dropped
      } else this.#scheduleSpill();
    }
    this.#boundMemory();
    return entry.seq;
  }

  /**
   * The sendable message with the smallest seq above `after`, or null. Cheap when `after`
   * grows from call to call (the lane readers stay where they are); going back (a resend after
   * reconnect) repositions them.
   */
  next(after: number): SpoolEntry | null {
    if (after < this.#cursorAfter) {
      for (const state of this.#lanes.values()) this.#resetReader(state);
    }
    this.#cursorAfter = after;
    let best: SpoolEntry | null = null;
    for (const state of this.#lanes.values()) {
      const entry = this.#peek(state, after);
      if (entry && (!best || entry.seq < best.seq)) best = entry;
    }
    return best;
  }

  /** Whether messages exist that `next` will hand out later (appended, not yet flushed). */
  hasUnflushed(): boolean {
    return !this.#pendingSendable() && this.#pendingBytes > 0;
  }

  /**
   * Memory first: unacknowledged records fill half of `spillAtBytes`. A producer that can wait
   * (a command's output) should, so that its records are acknowledged before they must be
   * written; one that cannot (telemetry) goes on, and what waits too long is spilled.
   */
  get memoryFull(): boolean {
    return this.#sendsFromMemory() && this.#pendingBytes >= this.#o.spillAtBytes / 2;
  }

  /**
   * Memory first: whether the outbox has a link. Going offline writes what waits in memory (it
   * may wait long now), and until the link is back records are written before they are sent.
   */
  setOnline(online: boolean): void {
    if (this.#online === online) return;
    this.#online = online;
    if (this.#o.writeBeforeSend || this.#closed) return;
    if (online) {
      // What was appended offline and not yet written may leave now: reserve above it first.
      if (this.#pendingBytes > 0 && this.#lastSeq > this.#reservedSeq) this.#reserveSeqs();
      this.#o.onSendable?.();
      return;
    }
    this.flush();
    if (this.#mode === 'disk' && this.#reservedSeq > 0) {
      // Every record that left is on disk now, and offline none leaves unwritten: the exact
      // floor, so that a crash before the link is back leaves no gap in the seqs.
      this.#reservedSeq = 0;
      this.#saveMeta();
    }
  }

  /** `seq` was handed to the link (the hub may process it even if its ack never comes). */
  markSent(seq: number): void {
    this.#sentThrough = Math.max(this.#sentThrough, seq);
  }

  /**
   * A link ended or was welcomed with `hubLastSeq`: evicted messages that were in flight are
   * delivered up to it, and dropped above it (they will never be sent again).
   */
  settleInFlight(hubLastSeq: number): void {
    this.#settleUncertain(hubLastSeq, true);
  }

  /** The hub has processed every message up to `seq`: release what it no longer needs. */
  acknowledge(seq: number): void {
    const acked = Math.min(seq, this.#lastSeq);
    this.#settleUncertain(acked, false);
    if (acked <= this.#ackedSeq) return;
    this.#ackedSeq = acked;
    for (const state of this.#lanes.values()) {
      while (state.pending[0] && state.pending[0].seq <= acked) {
        this.#pendingBytes -= state.pending[0].body.length;
        state.pending.shift();
      }
    }
    if (this.#pendingBytes === 0) this.#cancelSpill(); // nothing left that could come of age
    const released: SegmentInfo[] = [];
    for (const state of this.#lanes.values()) {
      for (const segment of state.segments) {
        if (!segment.active && segment.lastSeq <= acked) released.push(segment);
      }
    }
    if (released.length > 0) {
      this.#seqFloor = Math.max(this.#seqFloor, ...released.map((s) => s.lastSeq));
      this.#saveMeta(); // before the files go: the counter must never fall back
      for (const segment of released) this.#removeSegment(segment);
    } else if (this.#o.writeBeforeSend) {
      // Memory first saves no acknowledged seq on its own: the hub's welcome says where to
      // resume, and a store.json rename a second is flash wear for nothing.
      this.#metaTimer ??= this.#o.clock.setTimeout(() => {
        this.#metaTimer = null;
        this.#saveMeta();
      }, META_SAVE_MS);
    }
  }

  /**
   * A new store identity, for when the hub has seen seqs above ours (our counter was lost, e.g.
   * after running from memory): the hub then starts this device's seqs over.
   */
  rotateStore(hubLastSeq: number): void {
    if (!isUsableSeqBase(hubLastSeq)) {
      throw new RangeError(`cannot number on from seq ${hubLastSeq}: no room left below 2^48`);
    }
    const previous = this.#storeId;
    this.#storeId = this.#o.newStoreId();
    this.#ackedSeq = 0;
    // New messages number on from the hub's seq, so its clients still see seqs only grow.
    this.#lastSeq = Math.max(this.#lastSeq, hubLastSeq);
    this.#saveMeta();
    this.#logger.warn(
      { code: LogCode.storeRotated, previous, storeId: this.#storeId, lastSeq: this.#lastSeq },
      'the hub has seen seqs this spool never recorded: starting a new store identity',
    );
  }

  /** Drops not yet reported upstream, handed over once (the report itself is then spooled). */
  takeDropReport(): DropRecord[] {
    const report = this.#drops.takeReport();
    if (report.length > 0) this.#saveMeta();
    return report;
  }

  stats(): SpoolStats {
    let bytes = 0;
    let segments = 0;
    let held = 0;
    for (const state of this.#lanes.values()) {
      for (const segment of state.segments) {
        bytes += segment.end;
        segments++;
        held += segment.count;
      }
      held += state.pending.length;
    }
    return {
      mode: this.#mode,
      bytes,
      segments,
      held,
      pending: [...this.#lanes.values()].reduce((n, s) => n + s.pending.length, 0),
      dropped: this.#drops.total(),
      droppedByLane: this.#drops.totalsByLane(),
    };
  }

  /**
   * Batches are spaced at least `flushIntervalMs` apart, so a stream of telemetry costs a few
   * writes a second however fast it samples; a message after a quiet spell waits only for the
   * current turn of the event loop.
   */
  #flushDelay(): number {
    return Math.max(0, this.#lastFlushMs + this.#o.flushIntervalMs - this.#o.clock.now());
  }

  /**
   * Command replies skip the spacing (`delayMs` 0): an operator is waiting for each, a command
   * sends a few, and the interval would add itself to every round trip. They still wait for
   * the current turn, so what a command emits at once is one write.
   */
  #scheduleFlush(delayMs: number): void {
    const dueMs = this.#o.clock.now() + delayMs;
    if (this.#flushTimer && this.#flushDueMs <= dueMs) return;
    if (this.#flushTimer) this.#o.clock.clearTimeout(this.#flushTimer);
    this.#flushDueMs = dueMs;
    const afterTurn = this.#o.afterTurn;
    if (delayMs === 0 && afterTurn) {
      // A flush that has run since (or a later timer) makes this one moot.
      const queued: TimerHandle = {};
      this.#flushTimer = queued;
      afterTurn(() => {
        if (this.#flushTimer === queued) this.flush();
      });
      return;
    }
    this.#flushTimer = this.#o.clock.setTimeout(() => this.flush(), delayMs);
  }

  /** Writes pending messages now (in disk mode). */
  flush(): void {
    if (this.#flushTimer) this.#o.clock.clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    this.#lastFlushMs = this.#o.clock.now();
    if (this.#mode !== 'disk' || this.#closed) return;
    let wrote = false;
    try {
      for (const state of this.#lanes.values()) wrote = this.#writePending(state) || wrote;
      if (wrote && this.#fsync.due()) this.#syncAll();
    } catch (err) {
      this.#degrade(err, 'cannot write to the spool');
    }
    this.#enforceRetention();
    if (wrote) this.#o.onSendable?.();
  }

  /** Flushes, syncs and closes every file; the spool is unusable afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#settleUncertain(this.#ackedSeq, true); // not confirmed before shutdown: count as dropped
    this.flush();
    this.#closed = true;
    this.#cancelSpill();
    for (const timer of [this.#retryTimer, this.#metaTimer, this.#maintenanceTimer]) {
      if (timer) this.#o.clock.clearTimeout(timer);
    }
    if (this.#mode === 'disk') {
      // Every record is on disk or acknowledged now: the next run numbers on from the last seq
      // exactly, without the gap a reservation leaves after a crash.
      this.#reservedSeq = 0;
      try {
        if (this.#fsync.policy !== 'never') this.#syncAll();
      } catch (err) {
        this.#logger.error(
          { code: LogCode.storageError, err: errnoOf(err) },
          'final spool sync failed',
        );
      }
      this.#saveMeta();
    }
    for (const state of this.#lanes.values()) {
      state.writer?.close();
      state.writer = null;
      this.#resetReader(state);
    }
  }

  // ── opening and replay ───────────────────────────────────────────────────────────────────

  /** Reads the directory: store meta and every segment (checking each record). Throws on I/O. */
  #open(): void {
    const { fs, dir } = this.#o;
    fs.mkdirp(dir);
    let meta = readMeta(fs, dir);
    if (meta?.deviceId !== undefined && meta.deviceId !== this.#o.deviceId) {
      this.#setAside(meta, meta.deviceId);
      meta = null;
    }
    const names = fs.readdir(dir).sort();
    const found: SegmentInfo[] = [];
    for (const name of names) {
      const parsed = parseSegmentFileName(name);
      if (parsed) {
        const segment = this.#scan(parsed.lane, parsed.firstSeq);
        if (segment) found.push(segment);
      }
    }
    if (this.#lastSeq > 0) {
      // Opened late (the directory was unreadable at start): this run already numbered its
      // own messages, so the store found now cannot be continued.
      this.#abandon(found, meta);
      found.length = 0;
    } else if (meta) {
      const usable = this.#usableMeta(meta);
      this.#storeId = usable.storeId;
      this.#ackedSeq = usable.ackedSeq;
      this.#seqFloor = usable.seqFloor;
      this.#drops = new DropLedger(usable.drops);
    } else if (found.length > 0) {
      this.#logger.warn(
        { code: LogCode.spoolMetaMissing, dir, segments: found.length },
        `${META_FILE} is missing: replaying the segments under a new store identity`,
      );
    }
    for (const segment of found) this.#state(segment.lane).segments.push(segment);
    const highest = Math.max(0, ...found.map((s) => s.lastSeq));
    this.#lastSeq = Math.max(this.#lastSeq, highest, this.#seqFloor, this.#ackedSeq);
    this.#opened = true;
    this.#saveMetaOrThrow();
    for (const segment of found) {
      if (segment.lastSeq <= this.#ackedSeq || segment.count === 0) this.#removeSegment(segment);
    }
    const held = this.stats().held;
    this.#logger.info(
      { storeId: this.#storeId, dir, segments: found.length, held, lastSeq: this.#lastSeq },
      'spool opened',
    );
  }

  /**
   * Another device's store (the SD card moved, or an image cloned with its spool): moved to
   * `orphaned-<device>-<store>/` in the directory, kept for the operator, never replayed.
   * store.json goes last, so a crash half-way moves the rest on the next start.
   */
  #setAside(meta: StoreMeta, deviceId: string): void {
    const { fs, dir } = this.#o;
    const aside = join(dir, `orphaned-${deviceId}-${meta.storeId}`);
    fs.mkdirp(aside);
    for (const name of fs.readdir(dir)) {
      if (parseSegmentFileName(name)) fs.rename(join(dir, name), join(aside, name));
    }
    fs.rename(metaPath(dir), join(aside, META_FILE));
    this.#logger.warn(
      {
        code: LogCode.spoolDeviceChanged,
        dir,
        storeDevice: deviceId,
        deviceId: this.#o.deviceId,
        aside,
      },
      `the spool holds a store of device "${deviceId}": moved aside, starting a new store`,
    );
  }

  /**
   * A store.json whose floor or acknowledged seq cannot be numbered on from (an earlier version
   * stored what a broken hub sent): a new store identity, the segments replayed under it.
   */
  #usableMeta(meta: StoreMeta): StoreMeta {
    if (isUsableSeqBase(meta.seqFloor) && isUsableSeqBase(meta.ackedSeq)) return meta;
    this.#logger.warn(
      {
        code: LogCode.spoolSeqInvalid,
        dir: this.#o.dir,
        previous: meta.storeId,
        storeId: this.#storeId,
        seqFloor: meta.seqFloor,
        ackedSeq: meta.ackedSeq,
      },
      `${META_FILE} holds a seq too high to number on from: starting a new store identity`,
    );
    const ackedSeq = isUsableSeqBase(meta.ackedSeq) ? meta.ackedSeq : 0;
    return { ...meta, storeId: this.#storeId, seqFloor: 0, ackedSeq };
  }

  /**
   * Gives up a store found on disk after this run numbered messages of its own: every message
   * the hub had not acknowledged from it, and its unreported drops, go into the drop report
   * under its store_id (the seq ranges are in its numbering). Nothing of it raises our floor.
   */
  #abandon(found: SegmentInfo[], meta: StoreMeta | null): void {
    const storeId = meta?.storeId;
    for (const record of meta?.drops ?? []) this.#drops.add({ store_id: storeId, ...record });
    const acked = meta && isUsableSeqBase(meta.ackedSeq) ? meta.ackedSeq : 0;
    let count = 0;
    for (const segment of found) {
      const range = this.#rangeAbove(segment, acked);
      this.#drops.note(segment.lane, 'store_abandoned', range, storeId);
      count += range.count;
      this.#unlink(segment.path);
    }
    if (count > 0) {
      this.#logger.warn(
        { code: LogCode.spoolDropped, reason: 'store_abandoned', previous: storeId, count },
        `dropped ${count} messages of the store found when the spool opened late (it cannot be continued)`,
      );
    }
  }

  /** The messages of a segment above `after` (read from disk; unreadable: all of them). */
  #rangeAbove(segment: SegmentInfo, after: number): DroppedRange {
    const range = { count: 0, firstSeq: 0, lastSeq: 0, fromMs: 0, toMs: 0 };
    const reader = new SegmentReader(this.#o.fs, segment);
    try {
      for (let r = reader.next(); r.kind === 'entry'; r = reader.next()) {
        if (r.entry.seq > after) noteInRange(range, r.entry);
      }
    } catch {
      return wholeSegment(segment);
    } finally {
      reader.close();
    }
    return range;
  }

  /** One segment's summary, checking every record; a torn tail is logged and cut off. */
  #scan(lane: Lane, firstSeq: number): SegmentInfo | null {
    const { fs, dir } = this.#o;
    const segment = newSegmentInfo(dir, lane, firstSeq, SEGMENT_MAGIC.length);
    const size = fs.size(segment.path);
    const reader = new SegmentReader(fs, { ...segment, end: size });
    try {
      if (size < SEGMENT_MAGIC.length || !reader.checkHeader()) {
        this.#logger.warn(
          { code: LogCode.spoolTornRecord, segment: segment.path, bytes: size },
          'segment without a valid header (cut short at creation): removed',
        );
        this.#unlink(segment.path);
        return null;
      }
      for (;;) {
        const result = reader.next();
        if (result.kind === 'end') break;
        if (result.kind === 'corrupt') {
          this.#logger.warn(
            {
              code: LogCode.spoolTornRecord,
              segment: segment.path,
              offset: result.offset,
              skippedBytes: size - result.offset,
              reason: result.reason,
            },
            'torn or corrupt record in the spool: skipping the rest of the segment',
          );
          break;
        }
        const { entry } = result;
        noteRecord(segment, entry.seq, entry.tsMs, reader.offset - segment.end);
      }
    } finally {
      reader.close();
    }
    return segment;
  }

  // ── writing ──────────────────────────────────────────────────────────────────────────────

  /**
   * Writes one lane's pending messages (those appended by `appendedBy`, all by default) as one
   * batch; true if anything was written.
   */
  #writePending(state: LaneState, appendedBy = Number.POSITIVE_INFINITY): boolean {
    let count = 0;
    while (
      count < state.pending.length &&
      (state.pending[count] as PendingEntry).appendedAtMs <= appendedBy
    )
      count++;
    if (count === 0) return false;
    const batch = count === state.pending.length ? state.pending : state.pending.slice(0, count);
    const encoded = encodeRecords(batch, count);
    const bytes = encoded.data.length;
    const nowMs = this.#o.clock.now();
    let writer = state.writer;
    if (
      writer &&
      (!writer.usable ||
        (writer.segment.count > 0 && writer.segment.end + bytes > this.#segmentBytes) ||
        this.#tooOldToExtend(writer, nowMs))
    ) {
      writer.close();
      writer = null;
      state.writer = null;
    }
    if (!writer) {
      const first = batch[0] as SpoolEntry;
      writer = SegmentWriter.create(this.#o.fs, this.#o.dir, state.lane, first.seq, nowMs);
      state.segments = state.segments.filter((s) => s.path !== writer?.segment.path);
      state.segments.push(writer.segment);
      state.writer = writer;
    }
    writer.append(encoded.data, batch, encoded.sizes);
    state.pending = batch === state.pending ? [] : state.pending.slice(count);
    for (const entry of batch) this.#pendingBytes -= entry.body.length;
    return true;
  }

  // ── memory first ─────────────────────────────────────────────────────────────────────────

  /** Records go out from memory before they are written (memory first, link up, disk fine). */
  #sendsFromMemory(): boolean {
    return !this.#o.writeBeforeSend && this.#online;
  }

  /** Pending records may be handed out: memory first with a link, or the disk is gone. */
  #pendingSendable(): boolean {
    return this.#mode === 'memory' || this.#sendsFromMemory();
  }

  /** Wakes up when the oldest pending record comes of age (one timer, however many records). */
  #scheduleSpill(): void {
    if (this.#spillTimer || this.#closed) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const state of this.#lanes.values()) {
      oldest = Math.min(oldest, state.pending[0]?.appendedAtMs ?? oldest);
    }
    if (oldest === Number.POSITIVE_INFINITY) return;
    const delayMs = Math.max(0, oldest + this.#o.spillAfterMs - this.#o.clock.now());
    this.#spillTimer = this.#o.clock.setTimeout(() => {
      this.#spillTimer = null;
      this.#spill();
    }, delayMs);
    this.#spillTimer.unref?.();
  }

  #cancelSpill(): void {
    if (this.#spillTimer) this.#o.clock.clearTimeout(this.#spillTimer);
    this.#spillTimer = null;
  }

  /** Writes the records that waited `spillAfterMs` unacknowledged (and those about to). */
  #spill(): void {
    if (this.#closed || this.#mode !== 'disk' || !this.#sendsFromMemory()) return;
    // Those coming of age within a flush interval go in the same batch: at most one write per
    // flush interval, as in write before send.
    const appendedBy = this.#o.clock.now() - this.#o.spillAfterMs + this.#o.flushIntervalMs;
    let wrote = false;
    try {
      for (const state of this.#lanes.values()) {
        wrote = this.#writePending(state, appendedBy) || wrote;
      }
      if (wrote && this.#fsync.due()) this.#syncAll();
    } catch (err) {
      this.#degrade(err, 'cannot write to the spool');
    }
    this.#enforceRetention();
    this.#scheduleSpill();
  }

  /** Promises the next run a floor above every seq this one may send before writing it. */
  #reserveSeqs(): void {
    this.#reservedSeq = this.#lastSeq + SEQ_RESERVATION;
    this.#saveMeta();
  }

  /** With an age limit, a segment spans at most a tenth of it, so age eviction stays fine-grained. */
  #tooOldToExtend(writer: SegmentWriter, nowMs: number): boolean {
    return this.#o.maxAgeMs > 0 && nowMs - writer.openedAtMs > this.#o.maxAgeMs / 10;
  }

  #syncAll(): void {
    for (const state of this.#lanes.values()) state.writer?.sync();
    this.#fsync.synced();
  }

  // ── degraded mode ────────────────────────────────────────────────────────────────────────

  #degrade(err: unknown, what: string): void {
    if (this.#mode === 'disk') {
      this.#logger.error(
        { code: LogCode.storageDegraded, err: errnoOf(err), dir: this.#o.dir, detail: String(err) },
        `${what}: keeping messages in memory until the disk recovers`,
      );
    }
    this.#mode = 'memory';
    for (const state of this.#lanes.values()) {
      state.writer?.close();
      state.writer = null;
    }
    this.#scheduleRetry();
    this.#o.onSendable?.(); // pending messages can go out now
  }

  #scheduleRetry(): void {
    if (this.#retryTimer || this.#closed) return;
    this.#retryTimer = this.#o.clock.setTimeout(() => {
      this.#retryTimer = null;
      this.#retry();
    }, this.#o.retryIntervalMs);
    this.#retryTimer.unref?.();
  }

  #retry(): void {
    if (this.#closed || this.#mode === 'disk') return;
    try {
      if (!this.#opened) this.#open();
      for (const state of this.#lanes.values()) this.#writePending(state);
      this.#saveMetaOrThrow();
    } catch (err) {
      this.#logger.debug({ err: errnoOf(err) }, 'spool still not writable');
      for (const state of this.#lanes.values()) {
        state.writer?.close();
        state.writer = null;
      }
      this.#scheduleRetry();
      return;
    }
    this.#mode = 'disk';
    this.#logger.info({ code: LogCode.storageRecovered, dir: this.#o.dir }, 'spool writable again');
    this.#enforceRetention();
    this.#o.onSendable?.();
    this.#o.onRecovered?.();
  }

  // ── reading ──────────────────────────────────────────────────────────────────────────────

  #peek(state: LaneState, after: number): SpoolEntry | null {
    if (state.peeked && state.peeked.seq > after) return state.peeked;
    state.peeked = null;
    for (;;) {
      if (!state.reader) {
        const segment = state.segments.find((s) => s.active || s.lastSeq > after);
        if (!segment) break;
        state.reader = new SegmentReader(this.#o.fs, segment);
      }
      const reader = state.reader;
      let result;
      try {
        result = reader.next();
      } catch (err) {
        this.#logger.error(
          { code: LogCode.storageError, err: errnoOf(err), segment: reader.segment.path },
          'cannot read a spool segment: dropping it',
        );
        this.#evict(reader.segment, 'disk_error');
        continue;
      }
      if (result.kind === 'entry') {
        if (result.entry.seq > after) {
          state.peeked = result.entry;
          return result.entry;
        }
        continue;
      }
      if (result.kind === 'corrupt') {
        this.#logger.warn(
          { code: LogCode.spoolTornRecord, segment: reader.segment.path, offset: result.offset },
          `corrupt spool record (${result.reason}): skipping the rest of the segment`,
        );
        reader.segment.end = result.offset;
      }
      if (reader.segment.active) break; // caught up with what has been written
      const index = state.segments.indexOf(reader.segment);
      this.#resetReader(state);
      const following = index >= 0 ? state.segments[index + 1] : undefined;
      if (!following) break;
      state.reader = new SegmentReader(this.#o.fs, following);
    }
    if (this.#pendingSendable()) {
      const entry = firstAbove(state.pending, after);
      if (entry) {
        state.peeked = entry;
        return entry;
      }
    }
    return null;
  }

  #resetReader(state: LaneState): void {
    state.reader?.close();
    state.reader = null;
    state.peeked = null;
  }

  // ── retention ────────────────────────────────────────────────────────────────────────────

  #enforceRetention(): void {
    const segments = [...this.#lanes.values()].flatMap((s) => s.segments);
    const evictions = chooseEvictions(
      segments,
      { maxBytes: this.#o.maxBytes, maxAgeMs: this.#o.maxAgeMs },
      this.#o.clock.date().getTime(),
    );
    if (evictions.length === 0) return;
    for (const { segment, reason } of evictions) this.#evict(segment, reason);
    this.#saveMeta();
  }

  /** Gives up a segment: counts its unacknowledged messages as dropped and deletes the file. */
  #evict(segment: SegmentInfo, reason: DropReason): void {
    const range =
      segment.firstSeq > Math.max(this.#ackedSeq, this.#sentThrough)
        ? wholeSegment(segment)
        : this.#unackedIn(segment);
    this.#drops.note(segment.lane, reason, range);
    this.#seqFloor = Math.max(this.#seqFloor, segment.lastSeq);
    if (range.count > 0) {
      this.#logger.warn(
        { code: LogCode.spoolDropped, lane: segment.lane, reason, count: range.count },
        `dropped ${range.count} ${segment.lane} messages (${reason})`,
      );
    }
    this.#removeSegment(segment);
  }

  /**
   * The never-sent part of a segment that straddles the acknowledged or sent seq (read from
   * disk); its sent-but-unacknowledged messages go to `#uncertain`.
   */
  #unackedIn(segment: SegmentInfo): DroppedRange {
    const range = { count: 0, firstSeq: 0, lastSeq: 0, fromMs: 0, toMs: 0 };
    const reader = new SegmentReader(this.#o.fs, segment);
    try {
      for (let r = reader.next(); r.kind === 'entry'; r = reader.next()) {
        if (r.entry.seq <= this.#ackedSeq) continue;
        if (r.entry.seq <= this.#sentThrough) {
          this.#uncertain.push({ seq: r.entry.seq, lane: r.entry.lane, tsMs: r.entry.tsMs });
          continue;
        }
        noteInRange(range, r.entry);
      }
    } catch {
      return wholeSegment(segment); // unreadable: count what the summary says
    } finally {
      reader.close();
    }
    return range;
  }

  /** Uncertain messages up to `delivered` arrived; with `final`, the rest never will. */
  #settleUncertain(delivered: number, final: boolean): void {
    if (this.#uncertain.length === 0) return;
    const lost = final ? this.#uncertain.filter((u) => u.seq > delivered) : [];
    this.#uncertain = final ? [] : this.#uncertain.filter((u) => u.seq > delivered);
    for (const lane of LANES) {
      const ofLane = lost.filter((u) => u.lane === lane);
      const first = ofLane[0];
      const last = ofLane.at(-1);
      if (!first || !last) continue;
      this.#drops.note(lane, 'storage_full', {
        count: ofLane.length,
        firstSeq: first.seq,
        lastSeq: last.seq,
        fromMs: first.tsMs,
        toMs: Math.max(...ofLane.map((u) => u.tsMs)),
      });
    }
  }

  #removeSegment(segment: SegmentInfo): void {
    const state = this.#state(segment.lane);
    if (state.writer?.segment === segment) {
      state.writer.close();
      state.writer = null;
    }
    if (state.reader?.segment === segment) this.#resetReader(state);
    state.segments = state.segments.filter((s) => s !== segment);
    this.#unlink(segment.path);
  }

  #unlink(path: string): void {
    try {
      this.#o.fs.unlink(path);
    } catch (err) {
      this.#logger.debug({ err: errnoOf(err), path }, 'cannot delete a spool segment');
    }
  }

  /** Pending messages are bounded even when the disk is gone: oldest telemetry goes first. */
  #boundMemory(): void {
    const { memoryMaxMessages, memoryMaxBytes } = this.#o;
    let count = 0;
    for (const state of this.#lanes.values()) count += state.pending.length;
    if (count <= memoryMaxMessages && this.#pendingBytes <= memoryMaxBytes) return;
    for (const state of this.#lanes.values()) {
      let dropped = 0;
      const first = state.pending[0];
      let last = first;
      while (
        state.pending.length > 0 &&
        (count > memoryMaxMessages || this.#pendingBytes > memoryMaxBytes)
      ) {
        last = state.pending.shift() as PendingEntry;
        this.#pendingBytes -= last.body.length;
        if (state.peeked === last) state.peeked = null;
        count--;
        dropped++;
      }
      if (first && last && dropped > 0) {
        this.#drops.note(state.lane, 'memory_full', {
          count: dropped,
          firstSeq: first.seq,
          lastSeq: last.seq,
          fromMs: first.tsMs,
          toMs: last.tsMs,
        });
        if (dropped === 1 || this.#drops.total() % 1000 === 0) {
          this.#logger.warn(
            { code: LogCode.spoolDropped, lane: state.lane, reason: 'memory_full' },
            'memory spool full: dropping the oldest messages',
          );
        }
      }
      if (count <= memoryMaxMessages && this.#pendingBytes <= memoryMaxBytes) return;
    }
  }

  // ── meta ─────────────────────────────────────────────────────────────────────────────────

  #saveMeta(): void {
    if (this.#metaTimer) this.#o.clock.clearTimeout(this.#metaTimer);
    this.#metaTimer = null;
    if (this.#mode !== 'disk' || !this.#opened) return; // saved again on recovery
    try {
      this.#saveMetaOrThrow();
    } catch (err) {
      this.#degrade(err, 'cannot write the spool state');
    }
  }

  #saveMetaOrThrow(): void {
    writeMeta(this.#o.fs, this.#o.dir, {
      storeId: this.#storeId,
      deviceId: this.#o.deviceId,
      ackedSeq: this.#ackedSeq,
      seqFloor: Math.max(this.#seqFloor, this.#lastSeq - this.#unflushedCount(), this.#reservedSeq),
      drops: this.#drops.pending(),
    });
  }

  /**
   * Messages numbered but not on disk yet: with write before send their seqs never left the
   * process in disk mode (memory first has the reservation instead).
   */
  #unflushedCount(): number {
    let n = 0;
    for (const state of this.#lanes.values()) n += state.pending.length;
    return n;
  }

  #scheduleMaintenance(): void {
    if (this.#o.maxAgeMs <= 0 || this.#closed) return;
    this.#maintenanceTimer = this.#o.clock.setTimeout(
      () => {
        this.#maintenanceTimer = null;
        this.#enforceRetention();
        this.#scheduleMaintenance();
      },
      Math.min(MAINTENANCE_MS, Math.max(1_000, this.#o.maxAgeMs / 10)),
    );
    this.#maintenanceTimer.unref?.();
  }

  #state(lane: Lane): LaneState {
    return this.#lanes.get(lane) as LaneState;
  }
}

/** The first entry with seq above `after` in a seq-ordered array (binary search). */
function firstAbove(entries: readonly SpoolEntry[], after: number): SpoolEntry | null {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((entries[mid] as SpoolEntry).seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return entries[lo] ?? null;
}

/** Adds one entry (in seq order) to a range being counted. */
function noteInRange(range: DroppedRange, entry: SpoolEntry): void {
  if (range.count === 0) {
    range.firstSeq = entry.seq;
    range.fromMs = entry.tsMs;
  }
  range.count++;
  range.lastSeq = entry.seq;
  range.toMs = Math.max(range.toMs, entry.tsMs);
}

/** Every message of a segment, from its summary. */
function wholeSegment(segment: SegmentInfo): DroppedRange {
  return {
    count: segment.count,
    firstSeq: segment.firstSeq,
    lastSeq: segment.lastSeq,
    fromMs: segment.firstTsMs,
    toMs: segment.lastTsMs,
  };
}
