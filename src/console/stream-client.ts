import { backoffDelay, restartDelay, type RandomSource } from '../time/backoff.js';
import {
  binaryData,
  decodeByteFrame,
  encodeByteFrame,
  type ByteFrame,
} from '../protocol/byte-frame.js';
import { parseFrame, type ParsedFrame } from '../protocol/parse.js';
import { toClientValidators } from '../protocol/to-client.js';
import type { Recovery } from './session-keeper.js';
import { CloseCode } from '../protocol/close-codes.js';

/**
 * The console's `/v1/stream` connection, used exactly as a backend uses it, authenticated
 * with the session token (`?session=TOKEN`: a browser cannot set headers on a WebSocket).
 *
 *     idle ─start()─▶ connecting ──open──▶ open ──close──▶ backoff ──timer──▶ connecting …
 *                        │  └─refused─▶ recover(): renewed → connecting, ask → signed_out
 *                        └─dial timeout─▶ backoff
 *     any ─stop()─▶ stopped
 *
 * Reconnecting follows the platform docs' schedule: 1 s, doubling to 30 s, reset once a
 * connection opens; each delay is drawn from [ceiling/2, ceiling] (the agent's jitter) so a
 * room of open consoles does not come back in lockstep. A close 1001 ("server restart") of a
 * working connection retries after about 1 s. One dial at a time; every frame is validated
 * before the app sees it, and one that fails is dropped and counted, never thrown.
 *
 * Binary frames (docs/protocol.md, "Raw bytes") carry a shell session's keystrokes and output:
 * decoded with the shared codec and handed to `onBytes`, or counted as bad like a JSON frame.
 */
export const RECONNECT = { initialDelayMs: 1_000, maxDelayMs: 30_000 } as const;
export const DIAL_TIMEOUT_MS = 10_000;

export type ConnectionStatus =
  | { kind: 'idle' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open'; since: number }
  | { kind: 'backoff'; attempt: number; delayMs: number; retryAt: number; reason: string }
  | { kind: 'signed_out'; expired: boolean }
  | { kind: 'stopped' };

/** What the client hears from its socket. */
export interface SocketEvents {
  open(): void;
  message(data: unknown): void;
  /** Always the last event, also for a socket that never opened. */
  close(code: number): void;
}

/** A WebSocket as the client uses it (the browser's, or `ws` in tests), events already wired. */
export interface SocketHandle {
  isOpen(): boolean;
  /** A string goes as a text frame, bytes as a binary frame. */
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string, events: SocketEvents) => SocketHandle;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface StreamClientOptions {
  /** `ws://host:port/v1/stream` */
  streamUrl: string;
  sessions: {
    token(): Promise<string | null>;
    recover(): Promise<Recovery>;
    readonly expired: boolean;
  };
  createSocket: SocketFactory;
  timers: Timers;
  now: () => number;
  random: RandomSource;
  onStatus: (status: ConnectionStatus) => void;
  onFrame: (frame: ParsedFrame) => void;
  /** A binary frame that decoded (bytes of a stream the app opened, or a late one). */
  onBytes?: (frame: ByteFrame) => void;
}

export class StreamClient {
  readonly #o: StreamClientOptions;
  #status: ConnectionStatus = { kind: 'idle' };
  #socket: SocketHandle | null = null;
  #timer: unknown = null;
  #attempt = 0;
  #badFrames = 0;

  constructor(options: StreamClientOptions) {
    this.#o = options;
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  /** Frames dropped because they failed validation. */
  get badFrames(): number {
    return this.#badFrames;
  }

  /** Connects (again): from idle, signed out (after a new sign-in) or to cut a back-off short. */
  start(): void {
    const { kind } = this.#status;
    if (kind === 'stopped' || kind === 'connecting' || kind === 'open') return;
    this.#clearTimer();
    void this.#dial();
  }

  /** Sends a message if the connection is open; false when it is not (nothing is queued). */
  send(message: { type: string; payload: Record<string, unknown>; request_id?: string }): boolean {
    if (this.#status.kind !== 'open' || !this.#socket?.isOpen()) return false;
    this.#socket.send(JSON.stringify(message));
    return true;
  }

  /** Sends one binary frame if the connection is open; false when it is not (nothing queued). */
  sendBytes(frame: ByteFrame): boolean {
    if (this.#status.kind !== 'open' || !this.#socket?.isOpen()) return false;
    this.#socket.send(encodeByteFrame(frame));
    return true;
  }

  stop(): void {
    this.#clearTimer();
    const socket = this.#socket;
    this.#socket = null;
    this.#setStatus({ kind: 'stopped' });
    socket?.close(CloseCode.normal, 'console closed');
  }

  async #dial(): Promise<void> {
    this.#setStatus({ kind: 'connecting', attempt: this.#attempt });
    const token = await this.#o.sessions.token();
    if (this.#status.kind !== 'connecting') return; // stopped meanwhile
    if (token === null) {
      this.#setStatus({ kind: 'signed_out', expired: this.#o.sessions.expired });
      return;
    }
    const url = `${this.#o.streamUrl}?session=${encodeURIComponent(token)}`;
    let opened = false;
    let socket: SocketHandle | null = null;
    const current = (): boolean => socket !== null && this.#socket === socket;
    try {
      socket = this.#o.createSocket(url, {
        open: () => {
          if (!current()) return;
          opened = true;
          this.#clearTimer();
          this.#attempt = 0;
          this.#setStatus({ kind: 'open', since: this.#o.now() });
        },
        message: (data) => {
          if (current()) this.#onMessage(data);
        },
        close: (code) => {
          if (!current()) return;
          this.#socket = null;
          this.#clearTimer();
          if (!opened) return void this.#refused();
          const restart = code === CloseCode.goingAway;
          this.#backoff(restart ? 'the hub is restarting' : `connection closed (${code})`, restart);
        },
      });
    } catch (err) {
      this.#backoff(`cannot open a WebSocket: ${(err as Error).message}`, false);
      return;
    }
    this.#socket = socket;
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = null;
      this.#socket = null; // its close event no longer counts
      socket?.close();
      this.#backoff(`no answer within ${DIAL_TIMEOUT_MS / 1000} s`, false);
    }, DIAL_TIMEOUT_MS);
  }

  /**
   * The socket closed before it opened: the hub is down, or it refused the token (a browser
   * is not told which). The session endpoint tells them apart.
   */
  async #refused(): Promise<void> {
    const recovery = await this.#o.sessions.recover();
    if (this.#status.kind !== 'connecting') return;
    if (recovery === 'renewed') return void this.#dial();
    if (recovery === 'ask') {
      this.#setStatus({ kind: 'signed_out', expired: this.#o.sessions.expired });
      return;
    }
    this.#backoff(
      recovery === 'unreachable' ? 'the hub does not answer' : 'the hub refused the connection',
      false,
    );
  }

  #backoff(reason: string, restart: boolean): void {
    const delayMs = restart
      ? restartDelay(RECONNECT, this.#o.random)
      : backoffDelay(this.#attempt, RECONNECT, this.#o.random);
    this.#attempt += 1;
    this.#setStatus({
      kind: 'backoff',
      attempt: this.#attempt,
      delayMs,
      retryAt: this.#o.now() + delayMs,
      reason,
    });
    this.#timer = this.#o.timers.setTimeout(() => {
      this.#timer = null;
      void this.#dial();
    }, delayMs);
  }

  #onMessage(data: unknown): void {
    if (data instanceof ArrayBuffer || data instanceof Uint8Array) {
      const decoded = decodeByteFrame(binaryData(data));
      if (decoded.ok && this.#o.onBytes) this.#o.onBytes(decoded.frame);
      else this.#badFrames += 1;
      return;
    }
    if (typeof data !== 'string') {
      this.#badFrames += 1;
      return;
    }
    const result = parseFrame(data, toClientValidators);
    if (!result.ok) {
      this.#badFrames += 1;
      return;
    }
    this.#o.onFrame(result.frame);
  }

  #setStatus(status: ConnectionStatus): void {
    this.#status = status;
    this.#o.onStatus(status);
  }

  #clearTimer(): void {
    if (this.#timer !== null) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
