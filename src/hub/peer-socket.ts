import type { Logger } from 'pino';
import WebSocket from 'ws';
import { ErrorCode } from '../protocol/error-codes.js';
import { encode, type Message } from '../protocol/message.js';
import { frameText, type FrameError } from '../protocol/parse.js';
import type { Clock, TimerHandle } from '../time/clock.js';
import { CLOSE_NO_PONG, Liveness } from './liveness.js';

/**
 * One accepted WebSocket, whatever the endpoint: liveness, sending, and a bounded close.
 *
 *     open ─close() / no pong (4001)─▶ closing ─'close' (or close timer → terminate)─▶ closed
 *       └────────────────────── peer closes ───────────────────────────────────────────▲
 *
 * Frames that arrive while closing are dropped. `onClose` runs exactly once, last.
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
  onBinary: () => void;
  /** Anything at all arrived from the peer (frame, ping, pong). */
  onActivity: () => void;
  onClose: (code: number, reason: string) => void;
}

/** What every session passes through to its PeerSocket unchanged. */
export type PeerSettings = Pick<
  PeerSocketOptions,
  'socket' | 'clock' | 'logger' | 'pingIntervalMs' | 'pongTimeoutMs' | 'closeTimeoutMs'
>;

export function peerSettings(options: PeerSettings): PeerSettings {
  const { socket, clock, logger, pingIntervalMs, pongTimeoutMs, closeTimeoutMs } = options;
  return { socket, clock, logger, pingIntervalMs, pongTimeoutMs, closeTimeoutMs };
}

/** Both endpoints speak JSON text only. */
export const BINARY_REFUSED: FrameError = {
  code: ErrorCode.invalidJson,
  message: 'binary frames are not accepted; send JSON text',
};

export class PeerSocket {
  readonly #o: PeerSocketOptions;
  readonly #liveness: Liveness;
  readonly closed: Promise<void>;
  #state: PeerState = 'open';
  #closeTimer: TimerHandle | null = null;
  #resolveClosed: () => void = () => {};

  constructor(options: PeerSocketOptions) {
    this.#o = options;
    const { socket, clock, logger } = options;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#liveness = new Liveness({
      intervalMs: options.pingIntervalMs,
      timeoutMs: options.pongTimeoutMs,
      clock,
      sendPing: () => {
        if (socket.readyState === WebSocket.OPEN) socket.ping();
      },
      onStale: () => {
        logger.warn(
          { code: ErrorCode.heartbeatTimeout, closeCode: CLOSE_NO_PONG },
          'no pong within the timeout: closing the connection',
        );
        void this.close(CLOSE_NO_PONG, 'no pong');
      },
    });
    socket.on('message', (data, isBinary) => {
      this.#activity();
      if (this.#state !== 'open') return;
      const text = frameText(data, isBinary);
      if (text === null) options.onBinary();
      else options.onText(text);
    });
    socket.on('ping', () => this.#activity());
    socket.on('pong', () => {
      this.#liveness.pong();
      this.#activity();
    });
    socket.on('error', (err) =>
      logger.warn({ code: 'socket_error', err: err.message }, 'WebSocket error'),
    );
    socket.on('close', (code, reason) => this.#onClose(code, reason.toString()));
    this.#liveness.start();
  }

  get state(): PeerState {
    return this.#state;
  }

  send(message: Message): boolean {
    if (this.#state !== 'open' || this.#o.socket.readyState !== WebSocket.OPEN) return false;
    this.#o.socket.send(encode(message));
    return true;
  }

  /** Starts a graceful close; resolves when the socket is closed (or terminated at the deadline). */
  close(code: number, reason: string): Promise<void> {
    if (this.#state !== 'open') return this.closed;
    this.#state = 'closing';
    this.#liveness.stop();
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

  #activity(): void {
    if (this.#state === 'open') this.#o.onActivity();
  }

  #onClose(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#liveness.stop();
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
