import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/error-codes.js';
import type { Clock, TimerHandle } from '../time/clock.js';
import { LineSplitter } from './line-splitter.js';
import { parseAppLine, type AppLine } from './sdk-wire.js';

/**
 * One app connected to the local socket.
 *
 *     open ──close()──▶ closing ──socket closed (or closeTimeoutMs: destroyed)──▶ closed
 *       └──────────── peer closes, line too long, socket error ────────────────────▲
 *
 * Incoming lines are framed, validated and handed to `onLine`; a malformed line is logged and
 * skipped (the app stays connected); a line over `maxLineBytes` closes this app's connection.
 * Outgoing lines wait in a bounded queue while the app does not read: beyond `maxQueuedLines`
 * the oldest are dropped and counted, so a stuck app costs a bounded amount of memory and never
 * slows the agent or the other apps.
 */
export type AppSessionState = 'open' | 'closing' | 'closed';

export interface AppSessionOptions {
  socket: Socket;
  id: number;
  maxLineBytes: number;
  maxQueuedLines: number;
  closeTimeoutMs: number;
  clock: Clock;
  logger: Logger;
  onLine: (session: AppSession, line: AppLine) => void;
  onClose: (session: AppSession) => void;
}

export class AppSession {
  readonly id: number;
  readonly #o: AppSessionOptions;
  readonly #socket: Socket;
  readonly #splitter: LineSplitter;
  #state: AppSessionState = 'open';
  #name: string | null = null;
  #queue: string[] = [];
  #head = 0;
  #dropped = 0;
  #closeTimer: TimerHandle | null = null;
  readonly closed: Promise<void>;

  constructor(options: AppSessionOptions) {
    this.#o = options;
    this.id = options.id;
    this.#socket = options.socket;
    this.#splitter = new LineSplitter({
      maxLineBytes: options.maxLineBytes,
      onLine: (text) => this.#onText(text),
      onOverflow: (bytes) => {
        this.#logger().warn(
          { code: ErrorCode.lineTooLong, bytes, maxLineBytes: options.maxLineBytes },
          'app sent a line over the size limit; closing its connection',
        );
        this.#socket.destroy();
      },
    });
    this.closed = new Promise((resolve) => {
      this.#socket.once('close', () => {
        this.#state = 'closed';
        if (this.#closeTimer) options.clock.clearTimeout(this.#closeTimer);
        this.#queue = [];
        this.#head = 0;
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

  get state(): AppSessionState {
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

  /** Queues one encoded line (with its `\n`) for the app. */
  send(line: string): void {
    if (this.#state !== 'open') return;
    if (this.#queue.length - this.#head >= this.#o.maxQueuedLines) {
      this.#head++;
      this.#dropped++;
      // First drop, then every thousandth: visible without flooding the log.
      if (this.#dropped === 1 || this.#dropped % 1000 === 0) {
        this.#logger().warn(
          { code: ErrorCode.appQueueFull, dropped: this.#dropped },
          'app is not reading: dropping its oldest queued lines',
        );
      }
    }
    this.#queue.push(line);
    this.#flush();
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

  #flush(): void {
    while (this.#head < this.#queue.length && !this.#socket.writableNeedDrain) {
      if (this.#socket.destroyed || this.#socket.writableEnded) return;
      const line = this.#queue[this.#head] as string;
      this.#head++;
      this.#socket.write(line);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
      if (this.#state === 'closing' && !this.#socket.writableEnded) this.#socket.end();
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #onText(text: string): void {
    const result = parseAppLine(text);
    if (!result.ok) {
      this.#logger().warn(
        { code: ErrorCode.malformedLine, reason: result.error },
        'malformed line from app skipped',
      );
      return;
    }
    this.#name ??= result.value.app;
    this.#o.onLine(this, result.value);
  }

  #logger(): Logger {
    return this.#name === null
      ? this.#o.logger.child({ session: this.id })
      : this.#o.logger.child({ session: this.id, app: this.#name });
  }
}
