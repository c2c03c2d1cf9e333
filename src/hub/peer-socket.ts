import type { Logger } from 'pino';
import WebSocket from 'ws';
import { ErrorCode } from '../protocol/error-codes.js';
import { encode, type Message } from '../protocol/message.js';
import { frameText, type FrameError } from '../protocol/parse.js';
import { binaryData } from '../protocol/byte-frame.js';
import type { Clock, TimerHandle } from '../time/clock.js';
import { Heartbeat } from './heartbeat.js';
import { CloseCode } from '../protocol/close-codes.js';
import { LogCode } from '../log/log-codes.js';

/**
 * One accepted WebSocket, whatever the endpoint: heartbeat, sending, and a bounded close.
 *
 *     open ─close() / no pong (4001)─▶ closing ─'close' (or close timer → terminate)─▶ closed
 *       └────────────────────── peer closes ───────────────────────────────────────────▲
 *
 * Frames that arrive while closing are dropped. `onClose` runs exactly once, last. Pings begin
 * with `start()`, not when the object is made.
 *
 * Sending is bounded in bytes (`queuedBytes`: what the socket holds and has not yet written to
 * the kernel). At `highWaterBytes` the peer is backed up: its owner stops sending what it can do
 * without and pushes back on what feeds it, and `onDrain` listeners hear when it is below again.
 * A frame that would take the queue past `queueLimitBytes` is not sent: the peer is closed with
 * CloseCode.slowConsumer instead, so a peer that never reads costs the hub that much at most.
 *
 * `pauseReading()` stops reading the socket (TCP then pushes back on the peer). A paused socket
 * cannot read the pong to a ping either, so a ping sent while paused counts as answered: the
 * owner bounds how long it keeps a socket paused.
 */
export type PeerState = 'open' | 'closing' | 'closed';

export interface PeerSocketOptions {
  socket: WebSocket;
  clock: Clock;
  logger: Logger;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** How long a graceful close may take before the socket is terminated. */
  closeTimeoutMs: number;
  onText: (text: string) => void;
  /** A binary frame's bytes (the owner decides whether its link accepts them). */
  onBinary: (data: Uint8Array) => void;
  /** Anything at all arrived from the peer (frame, ping, pong). */
  onActivity: () => void;
  onClose: (code: number, reason: string) => void;
  /** Queued bytes from which the peer counts as backed up. */
  highWaterBytes: number;
  /** Queued bytes a frame may never take the peer past: it is closed with 4008 instead. */
  queueLimitBytes: number;
}

/** One peer's send queue, for `Hub.peerStats()` (tests, diagnostics). */
export interface PeerStats {
  kind: 'device' | 'client';
  /** The device id, or the client's id. */
  id: string;
  queuedBytes: number;
  /** At or above its high-water mark. */
  backedUp: boolean;
  /** The hub has stopped reading it (push-back on a device). */
  readingPaused: boolean;
  /** Telemetry and app events dropped for it since it last drained (clients). */
  dropped: number;
  /** Being closed by the hub (or the peer): nothing more is sent. */
  closing: boolean;
}

/** What every peer (DevicePeer, ClientPeer) passes through to its PeerSocket unchanged. */
export type PeerSettings = Pick<
  PeerSocketOptions,
  | 'socket'
  | 'clock'
  | 'logger'
  | 'pingIntervalMs'
  | 'pongTimeoutMs'
  | 'closeTimeoutMs'
  | 'highWaterBytes'
  | 'queueLimitBytes'
>;

export function peerSettings(options: PeerSettings): PeerSettings {
  const { socket, clock, logger, pingIntervalMs, pongTimeoutMs, closeTimeoutMs } = options;
  const { highWaterBytes, queueLimitBytes } = options;
  return {
    socket,
    clock,
    logger,
    pingIntervalMs,
    pongTimeoutMs,
    closeTimeoutMs,
    highWaterBytes,
    queueLimitBytes,
  };
}

/** Binary frames on a link that did not negotiate them (see docs/protocol.md, raw bytes). */
export const BINARY_REFUSED: FrameError = {
  code: ErrorCode.invalidJson,
  message: 'binary frames are not accepted on this link; send JSON text',
};

/** ws send options, made once: a Buffer goes out as a text frame only when told so. */
const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

export class PeerSocket {
  readonly #o: PeerSocketOptions;
  readonly #heartbeat: Heartbeat;
  readonly closed: Promise<void>;
  #state: PeerState = 'open';
  #closeTimer: TimerHandle | null = null;
  #resolveClosed: () => void = () => {};
  #backedUp = false;
  #readingPaused = false;
  readonly #drainListeners = new Set<() => void>();
  readonly #written = (): void => this.#checkDrain();

  constructor(options: PeerSocketOptions) {
    this.#o = options;
    const { socket, clock, logger } = options;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#heartbeat = new Heartbeat({
      intervalMs: options.pingIntervalMs,
      timeoutMs: options.pongTimeoutMs,
      clock,
      sendPing: () => {
        // Paused, the socket cannot read the pong: the owner bounds the pause instead.
        if (this.#readingPaused) this.#heartbeat.pong();
        if (socket.readyState === WebSocket.OPEN) socket.ping();
      },
      onStale: () => {
        logger.warn(
          { code: LogCode.heartbeatTimeout, closeCode: CloseCode.noPong },
          'no pong within the timeout: closing the connection',
        );
        void this.close(CloseCode.noPong, 'no pong');
      },
    });
    socket.on('message', (data, isBinary) => {
      this.#activity();
      if (this.#state !== 'open') return;
      if (isBinary) options.onBinary(binaryData(data));
      else options.onText(frameText(data, false) ?? '');
    });
    socket.on('ping', () => this.#activity());
    socket.on('pong', () => {
      this.#heartbeat.pong();
      this.#activity();
    });
    socket.on('error', (err) =>
      logger.warn({ code: LogCode.socketError, err: err.message }, 'WebSocket error'),
    );
    socket.on('close', (code, reason) => this.#onClose(code, reason.toString()));
  }

  /** Starts pinging the peer (its owner calls this once, as the hub accepts the socket). */
  start(): void {
    if (this.#state === 'open') this.#heartbeat.start();
  }

  get state(): PeerState {
    return this.#state;
  }

  /** Bytes given to the socket and not yet written to the kernel (ws `bufferedAmount`). */
  get queuedBytes(): number {
    return this.#o.socket.bufferedAmount;
  }

  get backedUp(): boolean {
    return this.#backedUp;
  }

  get readingPaused(): boolean {
    return this.#readingPaused;
  }

  /** The send queue's figures, for `Hub.peerStats()`. */
  stats(kind: PeerStats['kind'], id: string, dropped = 0): PeerStats {
    return {
      kind,
      id,
      queuedBytes: this.queuedBytes,
      backedUp: this.#backedUp,
      readingPaused: this.#readingPaused,
      dropped,
      closing: this.#state !== 'open',
    };
  }

  /** Runs `listener` each time the peer goes from backed up to below its high-water mark. */
  onDrain(listener: () => void): () => void {
    this.#drainListeners.add(listener);
    return () => this.#drainListeners.delete(listener);
  }

  /**
   * Sends one frame; false when the peer is not open, or when the frame would take its queue
   * past `queueLimitBytes` (the peer is then closed with CloseCode.slowConsumer).
   */
  send(message: Message): boolean {
    if (this.#state !== 'open') return false;
    // Encoded to UTF-8 once, here: a string handed to ws is measured twice (here for the
    // bound, in ws for the header) and encoded a third time as it is written, which for a
    // command_output of 256 KiB costs more than making it.
    return this.#write(Buffer.from(encode(message)), TEXT);
  }

  /** Sends one binary frame, under the same bounds as `send`. */
  sendBinary(frame: Uint8Array): boolean {
    return this.#write(frame, BINARY);
  }

  #write(data: Uint8Array, kind: typeof TEXT | typeof BINARY): boolean {
    const { socket, highWaterBytes, queueLimitBytes } = this.#o;
    if (this.#state !== 'open' || socket.readyState !== WebSocket.OPEN) return false;
    const queued = socket.bufferedAmount + data.length;
    if (queued > queueLimitBytes) {
      this.#o.logger.warn(
        { code: LogCode.slowConsumer, queuedBytes: socket.bufferedAmount, queueLimitBytes },
        'peer does not read what it is sent: closing it',
      );
      void this.close(CloseCode.slowConsumer, 'slow consumer');
      return false;
    }
    if (queued >= highWaterBytes) this.#backedUp = true;
    // While backed up, the write callback of each frame tells when the queue has gone down: the
    // last frame's runs once everything before it is written.
    if (this.#backedUp) socket.send(data, kind, this.#written);
    else socket.send(data, kind);
    return true;
  }

  /** Stops reading the socket: the peer's frames wait in TCP, which pushes back on it. */
  pauseReading(): void {
    if (this.#readingPaused || this.#state === 'closed') return;
    this.#readingPaused = true;
    this.#o.socket.pause();
  }

  resumeReading(): void {
    if (!this.#readingPaused) return;
    this.#readingPaused = false;
    this.#heartbeat.pong();
    this.#o.socket.resume();
  }

  /** Starts a graceful close; resolves when the socket is closed (or terminated at the deadline). */
  close(code: number, reason: string): Promise<void> {
    if (this.#state !== 'open') return this.closed;
    this.#state = 'closing';
    this.#heartbeat.stop();
    this.#closeTimer = this.#o.clock.setTimeout(() => {
      this.#closeTimer = null;
      this.#o.socket.terminate();
    }, this.#o.closeTimeoutMs);
    this.#o.socket.close(code, reason);
    return this.closed;
  }

  terminate(): void {
    this.#o.socket.terminate();
  }

  #checkDrain(): void {
    if (!this.#backedUp || this.#o.socket.bufferedAmount >= this.#o.highWaterBytes) return;
    this.#backedUp = false;
    if (this.#state !== 'open') return;
    for (const listener of [...this.#drainListeners]) listener();
  }

  #activity(): void {
    if (this.#state === 'open') this.#o.onActivity();
  }

  #onClose(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#readingPaused = false;
    this.#drainListeners.clear();
    this.#heartbeat.stop();
    if (this.#closeTimer) this.#o.clock.clearTimeout(this.#closeTimer);
    this.#closeTimer = null;
    try {
      this.#o.onClose(code, reason);
    } catch (err) {
      this.#o.logger.error({ code: ErrorCode.internalError, err }, 'close handler failed');
    }
    this.#resolveClosed();
  }
}
