import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../time/clock.js';
import { LineQueue } from './line-queue.js';
import { LineSplitter } from './line-splitter.js';
import { parseAppLine, type AppLine } from './sdk-wire.js';
import { LogCode } from '../log/log-codes.js';

/**
 * One app connected to the local socket: the server's peer for it.
 *
 *     open ──close()──▶ closing ──socket closed (or closeTimeoutMs: destroyed)──▶ closed
 *       └──────────── peer closes, line too long, socket error ────────────────────▲
 *
 * Incoming lines are framed, validated and handed to `onLine`; a malformed line is logged and
 * skipped (the app stays connected); a line over `maxLineBytes` closes this app's connection.
 * Outgoing lines wait in a queue while the app does not read. Beyond `maxQueuedLines`, or
 * beyond `maxQueuedBytes` (the queue and what the socket still buffers, counted together), the
 * oldest queued lines are dropped and counted, so a stuck app costs a bounded amount of memory
 * and never slows the agent or the other apps. A line the socket has taken cannot be taken back:
 * at most one line (plus the socket's 16 KiB high-water mark) sits there beyond the queue.
 * Dropping the oldest, rather than disconnecting, keeps a slow app connected, with its newest
 * commands; an app that never reads costs the same bounded bytes either way.
 */
export type AppPeerState = 'open' | 'closing' | 'closed';

/** Why queued lines were dropped: the app's line or byte bound, or the bound across all apps. */
export type DropReason = 'lines' | 'bytes' | 'total';

export interface AppPeerOptions {
  socket: Socket;
  id: number;
  maxLineBytes: number;
  maxQueuedLines: number;
  maxQueuedBytes: number;
  closeTimeoutMs: number;
  clock: Clock;
  logger: Logger;
  onLine: (peer: AppPeer, line: AppLine) => void;
  onClose: (peer: AppPeer) => void;
  /** Called after each line queued, so the server can keep all apps within their total. */
  onQueued?: (peer: AppPeer) => void;
}

export class AppPeer {
  readonly id: number;
  readonly #o: AppPeerOptions;
  readonly #socket: Socket;
  readonly #splitter: LineSplitter;
  #state: AppPeerState = 'open';
  #name: string | null = null;
  readonly #queue = new LineQueue();
  #dropped = 0;
  #droppedBytes = 0;
  #closeTimer: TimerHandle | null = null;
  readonly closed: Promise<void>;

  constructor(options: AppPeerOptions) {
    this.#o = options;
    this.id = options.id;
    this.#socket = options.socket;
    this.#splitter = new LineSplitter({
      maxLineBytes: options.maxLineBytes,
      onLine: (text) => this.#onText(text),
      onOverflow: (bytes) => {
        this.#logger().warn(
          { code: LogCode.lineTooLong, bytes, maxLineBytes: options.maxLineBytes },
          'app sent a line over the size limit; closing its connection',
        );
        this.#socket.destroy();
      },
    });
    this.closed = new Promise((resolve) => {
      this.#socket.once('close', () => {
        this.#state = 'closed';
        if (this.#closeTimer) options.clock.clearTimeout(this.#closeTimer);
        this.#queue.clear();
        options.onClose(this);
        resolve();
      });
    });
    this.#socket.on('data', (chunk: Buffer) => this.#splitter.push(chunk));
    this.#socket.on('drain', () => this.#flush());
    this.#socket.on('error', (err) =>
      this.#logger().debug({ err: err.message }, 'app socket error'),
    );
  }

  get state(): AppPeerState {
    return this.#state;
  }

  /** The app's name, from its first line; null until then. */
  get name(): string | null {
    return this.#name;
  }

  /** Lines dropped because the app did not read them in time. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Bytes held for this app: its queue and what its socket still buffers. */
  get queuedBytes(): number {
    return this.#state === 'closed' ? 0 : this.#queue.bytes + this.#socket.writableLength;
  }

  /** Lines waiting in the queue (not yet handed to the socket). */
  get queuedLines(): number {
    return this.#queue.length;
  }

  /** Bytes of queued lines that can still be dropped (the socket's cannot). */
  get droppableBytes(): number {
    return this.#queue.bytes;
  }

  /** Queues one encoded line (with its `\n`) for the app. */
  send(line: string): void {
    if (this.#state !== 'open') return;
    this.#queue.push(line);
    this.#shed('lines', () => this.#queue.length <= this.#o.maxQueuedLines);
    this.#shed('bytes', () => this.queuedBytes <= this.#o.maxQueuedBytes);
    this.#flush();
    this.#o.onQueued?.(this);
  }

  /** Drops the oldest queued lines until `bytes` are freed or the queue is empty; returns the bytes freed. */
  shed(bytes: number): number {
    return this.#shed('total', (freed) => freed >= bytes);
  }

  /** Sends what is queued (within `closeTimeoutMs`), then closes; idempotent. */
  close(): Promise<void> {
    if (this.#state !== 'open') return this.closed;
    this.#state = 'closing';
    this.#closeTimer = this.#o.clock.setTimeout(
      () => this.#socket.destroy(),
      this.#o.closeTimeoutMs,
    );
    this.#closeTimer.unref?.();
    this.#flush();
    return this.closed;
  }

  #shed(reason: DropReason, enough: (freed: number) => boolean): number {
    let freed = 0;
    let lines = 0;
    while (this.#queue.length > 0 && !enough(freed)) {
      freed += this.#queue.dropOldest();
      lines++;
    }
    if (lines === 0) return 0;
    const before = this.#dropped;
    this.#dropped += lines;
    this.#droppedBytes += freed;
    // The first drop, then one line per thousand dropped: visible without flooding the log.
    if (before === 0 || Math.floor(before / 1000) !== Math.floor(this.#dropped / 1000)) {
      this.#logger().warn(
        {
          code: LogCode.appQueueFull,
          reason,
          dropped: this.#dropped,
          droppedBytes: this.#droppedBytes,
          queuedLines: this.#queue.length,
          queuedBytes: this.queuedBytes,
        },
        'app is not reading: dropping its oldest queued lines',
      );
    }
    return freed;
  }

  #flush(): void {
    while (this.#queue.length > 0 && !this.#socket.writableNeedDrain) {
      if (this.#socket.destroyed || this.#socket.writableEnded) return;
      this.#socket.write(this.#queue.shift() as string);
    }
    if (this.#queue.length === 0 && this.#state === 'closing' && !this.#socket.writableEnded) {
      this.#socket.end();
    }
  }

  #onText(text: string): void {
    const result = parseAppLine(text);
    if (!result.ok) {
      this.#logger().warn(
        { code: LogCode.malformedLine, reason: result.error },
        'malformed line from app skipped',
      );
      return;
    }
    this.#name ??= result.value.app;
    this.#o.onLine(this, result.value);
  }

  #logger(): Logger {
    // The log field keeps its first name, `session`: journal readers filter on it.
    return this.#name === null
      ? this.#o.logger.child({ session: this.id })
      : this.#o.logger.child({ session: this.id, app: this.#name });
  }
}
