import type { AgentMessage } from '../protocol/message.js';
import { encodeByteFrame, type ByteFrame } from '../protocol/byte-frame.js';

/**
 * The one way out for every message the agent produces. Producers enqueue and never touch the
 * socket; the connection attaches a sink while the link is up. Order is kept: nothing is sent
 * before what was enqueued earlier.
 *
 * The agent uses a DeliveryOutbox (below; built on the disk spool in src/storage/): acknowledged
 * delivery. MemoryOutbox below keeps messages in memory only, bounded by count (oldest dropped
 * first, with a count): a simple outbox for tests and embedders without storage.
 */
export interface OutboxSink {
  /**
   * Writes one frame, JSON text or a binary frame (only on a link that negotiated bytes);
   * `written` runs once the socket has taken it.
   */
  send(frame: string | Uint8Array, written: () => void): void;
  /** Bytes the socket holds but has not yet written to the network. */
  bufferedAmount(): number;
}

export interface OutboxStats {
  depth: number;
  dropped: number;
  sent: number;
}

/** Output bytes for the outbox: a binary frame without its seq (the outbox numbers it). */
export type OutboundBytes = Omit<ByteFrame, 'seq'>;

export interface Outbox {
  enqueue(message: AgentMessage): void;
  /**
   * Queues a binary frame (raw output bytes), in order with the messages; only for a link that
   * negotiated bytes. `tsMs`: the device time it was produced (the spool's record time).
   */
  enqueueBytes(frame: OutboundBytes, tsMs: number): void;
  /** The link is up; `lastSeq` is the hub's last processed seq (from welcome), if it acks. */
  attach(sink: OutboxSink, lastSeq?: number): void;
  detach(): void;
  /** True while the link is down or backed up: streaming producers should pause. */
  isBackedUp(): boolean;
  /** Runs `listener` each time the outbox goes from backed up to able to take more. */
  onDrain(listener: () => void): () => void;
  stats(): OutboxStats;
}

export interface DeliveryStats extends OutboxStats {
  inFlight: number;
  lastSeq: number;
  ackedSeq: number;
  spoolBytes: number;
  storage: 'disk' | 'memory';
}

/** What the welcome's `last_seq` means for this store. */
export type Resume =
  | { kind: 'resume'; after: number }
  /** The hub has seen seqs above ours: our counter was lost, the store must start over. */
  | { kind: 'rotate' }
  /** No seq fits above it (a broken hub): neither used nor stored; the link is refused. */
  | { kind: 'invalid' };

/**
 * Acknowledged delivery: every message numbered by `seq` and kept until the hub acknowledges it,
 * in a store that outlives the process. The Agent drives it through the welcome/ack exchange;
 * src/storage/spool-outbox.ts is the one the composition root builds.
 */
export interface DeliveryOutbox extends Outbox {
  /** The store's identity, in `hello.store_id`. */
  readonly storeId: string;
  /** The last seq given out (0 before the first message). */
  readonly lastSeq: number;
  /** Opens the store (reads what an earlier run left); called once, before anything is sent. */
  start(): void;
  /** Reads the welcome's `last_seq` (undefined: the hub does not acknowledge). */
  resumePoint(lastSeq: number | undefined): Resume;
  /** Starts a new store numbering on from the hub's `last_seq`. */
  rotateStore(hubLastSeq: number): void;
  /** A cumulative acknowledgement from the hub. */
  acknowledge(seq: number): void;
  /** Drops not yet reported upstream, each handed over once, as they go in a `status` message. */
  takeDropReport(): object[];
  stats(): DeliveryStats;
  /** Runs `listener` when the store is usable again after an outage: drops may wait to be told. */
  onRecovered(listener: () => void): () => void;
  /** Flushes and closes the store; nothing can be enqueued afterwards. */
  close(): void;
}

export interface MemoryOutboxOptions {
  maxMessages: number;
  /** Above this many buffered socket bytes the outbox stops writing until the socket drains. */
  highWaterBytes: number;
  onDrop?: (message: AgentMessage, total: number) => void;
}

export class MemoryOutbox implements Outbox {
  readonly #options: MemoryOutboxOptions;
  #queue: (string | Uint8Array)[] = [];
  #head = 0;
  #sink: OutboxSink | null = null;
  #dropped = 0;
  #sent = 0;
  #wasBackedUp = true;
  readonly #drainListeners = new Set<() => void>();

  constructor(options: MemoryOutboxOptions) {
    this.#options = options;
  }

  enqueue(message: AgentMessage): void {
    this.#push(JSON.stringify(message), message);
  }

  enqueueBytes(frame: OutboundBytes): void {
    this.#push(encodeByteFrame({ ...frame, seq: 0 }), null);
  }

  #push(frame: string | Uint8Array, message: AgentMessage | null): void {
    if (this.#depth() >= this.#options.maxMessages) {
      this.#queue[this.#head] = '';
      this.#head++;
      this.#dropped++;
      if (message) this.#options.onDrop?.(message, this.#dropped);
    }
    this.#queue.push(frame);
    this.#flush();
  }

  attach(sink: OutboxSink): void {
    this.#sink = sink;
    this.#flush();
  }

  detach(): void {
    this.#sink = null;
    this.#wasBackedUp = true;
  }

  isBackedUp(): boolean {
    const sink = this.#sink;
    if (!sink) return true;
    return this.#depth() > 0 || sink.bufferedAmount() >= this.#options.highWaterBytes;
  }

  onDrain(listener: () => void): () => void {
    this.#drainListeners.add(listener);
    return () => this.#drainListeners.delete(listener);
  }

  stats(): OutboxStats {
    return { depth: this.#depth(), dropped: this.#dropped, sent: this.#sent };
  }

  #depth(): number {
    return this.#queue.length - this.#head;
  }

  #flush(): void {
    const sink = this.#sink;
    if (!sink) return;
    while (
      this.#head < this.#queue.length &&
      sink.bufferedAmount() < this.#options.highWaterBytes
    ) {
      const frame = this.#queue[this.#head] as string | Uint8Array;
      // Let the sent frame go now, not at the next compaction: 1024 command-output frames of
      // 64 KiB each would otherwise stay referenced (tens of MiB).
      this.#queue[this.#head] = '';
      this.#head++;
      this.#sent++;
      sink.send(frame, () => this.#flush());
    }
    this.#compact();
    const backedUp = this.isBackedUp();
    if (this.#wasBackedUp && !backedUp) for (const listener of this.#drainListeners) listener();
    this.#wasBackedUp = backedUp;
  }

  /** Drops the consumed prefix now and then, so the array does not grow for ever. */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
