import type { Logger } from 'pino';
import type {
  DeliveryOutbox,
  DeliveryStats,
  OutboundBytes,
  OutboxSink,
  Resume,
} from '../agent/outbox.js';
import { encodeByteFrame } from '../protocol/byte-frame.js';
import type { AgentMessage } from '../protocol/message.js';
import { laneOf } from './lanes.js';
import { bodyOf, frameOf, recordTime } from './record-codec.js';
import type { DropRecord } from './drop-ledger.js';
import { isUsableSeqBase } from '../protocol/seq-range.js';
import { Spool, type SpoolOptions } from './spool.js';
import { LogCode } from '../log/log-codes.js';

/**
 * Acknowledged delivery on top of the spool. Every message gets the next `seq` and goes to the
 * spool first; the outbox sends from the spool in seq order, so live messages never overtake
 * older unsent ones, and keeps at most `windowMessages` unacknowledged messages in flight.
 *
 *     welcome { last_seq } ─▶ attach: resend everything after max(last_seq, acked), in order
 *     ack { seq }          ─▶ cumulative: the spool releases what the hub has processed
 *     link lost            ─▶ detach: in-flight messages are sent again after the next welcome
 *
 * A hub whose welcome carries no `last_seq` does not acknowledge (an older hub): then a message
 * counts as delivered once the socket has taken it, as before.
 */
export interface SpoolOutboxOptions {
  spool: Spool;
  windowMessages: number;
  /** Above this many buffered socket bytes sending pauses until the socket drains. */
  highWaterBytes: number;
  logger: Logger;
}

/**
 * A SpoolOutbox on a spool of its own: the spool tells the outbox when records become sendable
 * and when the disk is back. Nothing is read from disk until `start()`.
 */
export function openSpoolOutbox(
  spool: Omit<SpoolOptions, 'onSendable' | 'onRecovered'>,
  delivery: Omit<SpoolOutboxOptions, 'spool'>,
): SpoolOutbox {
  // The spool reports only after start(), by when the outbox exists.
  let outbox: SpoolOutbox | null = null;
  outbox = new SpoolOutbox({
    ...delivery,
    spool: new Spool({
      ...spool,
      onSendable: () => outbox?.spoolChanged(),
      onRecovered: () => outbox?.spoolRecovered(),
    }),
  });
  return outbox;
}

export class SpoolOutbox implements DeliveryOutbox {
  readonly #o: SpoolOutboxOptions;
  readonly #spool: Spool;
  #sink: OutboxSink | null = null;
  /** Acknowledged by the hub (or, for a hub without acks, taken by the socket). */
  #acksFromHub = true;
  /** Highest seq written to the current link. */
  #sentThrough = 0;
  /** Seqs sent and not yet acknowledged, oldest first. */
  #inFlight: number[] = [];
  #inFlightHead = 0;
  #sent = 0;
  #wasBackedUp = true;
  #pumping = false;
  readonly #drainListeners = new Set<() => void>();
  readonly #recoveredListeners = new Set<() => void>();

  constructor(options: SpoolOutboxOptions) {
    this.#o = options;
    this.#spool = options.spool;
  }

  get storeId(): string {
    return this.#spool.storeId;
  }

  /** The last seq given out (0 before the first message): where a resend after `hello` ends. */
  get lastSeq(): number {
    return this.#spool.lastSeq;
  }

  /** Opens the spool: what an earlier run left is read now, not when the outbox is built. */
  start(): void {
    this.#spool.start();
  }

  enqueue(message: AgentMessage): void {
    const lane = laneOf(message.channel);
    const { tsMs, compact } = recordTime(lane, message);
    // The spool numbers the message; `seq` is put in front when it is sent, with `channel` and
    // `ts` for a compact record.
    this.#spool.append(lane, tsMs, bodyOf(message, compact), compact);
    this.#pump();
  }

  /**
   * Output bytes go to the command lane as the binary frame itself (seq 0 until sent): no JSON,
   * no base64, the same write-before-send and resend as every message.
   */
  enqueueBytes(frame: OutboundBytes, tsMs: number): void {
    this.#spool.append('command', Math.max(0, tsMs), encodeByteFrame({ ...frame, seq: 0 }));
    this.#pump();
  }

  /** Reads the welcome's `last_seq` (undefined: the hub does not acknowledge). */
  resumePoint(lastSeq: number | undefined): Resume {
    if (lastSeq === undefined) return { kind: 'resume', after: this.#spool.ackedSeq };
    if (!isUsableSeqBase(lastSeq)) return { kind: 'invalid' };
    if (lastSeq > this.#spool.lastSeq) return { kind: 'rotate' };
    return { kind: 'resume', after: Math.max(lastSeq, this.#spool.ackedSeq) };
  }

  rotateStore(hubLastSeq: number): void {
    this.#spool.rotateStore(hubLastSeq);
  }

  /**
   * The link is up: resend everything after `lastSeq` (the hub's, from welcome). Undefined
   * means the hub does not acknowledge.
   */
  attach(sink: OutboxSink, lastSeq?: number): void {
    this.#spool.setOnline(true);
    this.#acksFromHub = lastSeq !== undefined;
    if (lastSeq !== undefined) {
      this.#spool.settleInFlight(lastSeq);
      this.#spool.acknowledge(lastSeq);
    }
    this.#sink = sink;
    this.#sentThrough = this.#spool.ackedSeq;
    this.#inFlight = [];
    this.#inFlightHead = 0;
    this.#pump();
  }

  detach(): void {
    this.#spool.setOnline(false);
    this.#sink = null;
    this.#wasBackedUp = true;
  }

  /** A cumulative acknowledgement from the hub. */
  acknowledge(seq: number): void {
    if (seq > this.#sentThrough) {
      this.#o.logger.warn(
        { code: LogCode.ackAhead, seq, sentThrough: this.#sentThrough },
        'hub acknowledged a seq not sent on this link; ignoring the excess',
      );
    }
    const acked = Math.min(seq, this.#sentThrough);
    while (
      this.#inFlightHead < this.#inFlight.length &&
      (this.#inFlight[this.#inFlightHead] as number) <= acked
    ) {
      this.#inFlightHead++;
    }
    this.#compactInFlight();
    this.#spool.acknowledge(acked);
    this.#pump();
  }

  /** Drops not yet reported upstream (each handed over once). */
  takeDropReport(): DropRecord[] {
    return this.#spool.takeDropReport();
  }

  /** Messages became sendable in the spool (a flush, or the disk degraded to memory). */
  spoolChanged(): void {
    this.#pump();
  }

  /** The spool is on disk again after running from memory (or opened late). */
  spoolRecovered(): void {
    for (const listener of this.#recoveredListeners) listener();
  }

  onRecovered(listener: () => void): () => void {
    this.#recoveredListeners.add(listener);
    return () => this.#recoveredListeners.delete(listener);
  }

  isBackedUp(): boolean {
    const sink = this.#sink;
    if (!sink) return true;
    // The pump sends whatever the spool can hand out until one of these limits stops it, so
    // they are exactly the states in which a producer should wait.
    return (
      this.#inFlightCount() >= this.#o.windowMessages ||
      sink.bufferedAmount() >= this.#o.highWaterBytes ||
      this.#spool.memoryFull
    );
  }

  onDrain(listener: () => void): () => void {
    this.#drainListeners.add(listener);
    return () => this.#drainListeners.delete(listener);
  }

  stats(): DeliveryStats {
    const spool = this.#spool.stats();
    return {
      // Held messages include acknowledged ones whose segment is not released yet.
      depth: Math.min(spool.held, this.#spool.lastSeq - this.#spool.ackedSeq),
      dropped: spool.dropped,
      sent: this.#sent,
      inFlight: this.#inFlightCount(),
      lastSeq: this.#spool.lastSeq,
      ackedSeq: this.#spool.ackedSeq,
      spoolBytes: spool.bytes,
      storage: spool.mode,
    };
  }

  close(): void {
    this.#sink = null;
    this.#spool.close();
  }

  #pump(): void {
    if (this.#pumping) return; // a socket callback can run inside send()
    this.#pumping = true;
    try {
      this.#sendWhatFits();
    } finally {
      this.#pumping = false;
    }
    const backedUp = this.isBackedUp();
    if (this.#wasBackedUp && !backedUp) for (const listener of this.#drainListeners) listener();
    this.#wasBackedUp = backedUp;
  }

  #sendWhatFits(): void {
    const sink = this.#sink;
    if (!sink) return;
    while (
      this.#inFlightCount() < this.#o.windowMessages &&
      sink.bufferedAmount() < this.#o.highWaterBytes
    ) {
      const entry = this.#spool.next(this.#sentThrough);
      if (!entry) {
        // Everything written has been sent; what remains (if anything) waits for a flush.
        if (!this.#spool.hasUnflushed()) this.#sentThrough = this.#spool.lastSeq;
        return;
      }
      this.#sentThrough = entry.seq;
      this.#spool.markSent(entry.seq);
      this.#sent++;
      const seq = entry.seq;
      if (this.#acksFromHub) {
        this.#inFlight.push(seq);
        sink.send(frameOf(entry), () => this.#pump());
      } else {
        sink.send(frameOf(entry), () => {
          this.#spool.acknowledge(seq);
          this.#pump();
        });
      }
    }
  }

  #inFlightCount(): number {
    return this.#inFlight.length - this.#inFlightHead;
  }

  #compactInFlight(): void {
    if (this.#inFlightHead > 1024 && this.#inFlightHead * 2 > this.#inFlight.length) {
      this.#inFlight = this.#inFlight.slice(this.#inFlightHead);
      this.#inFlightHead = 0;
    }
  }
}
