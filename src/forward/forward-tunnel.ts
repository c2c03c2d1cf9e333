import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Outbox } from '../agent/outbox.js';
import type { InputReport, OutputWindow } from '../agent/session-window.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { SESSION_WINDOW_BYTES } from '../protocol/sessions.js';
import type { Clock, TimerHandle } from '../time/clock.js';

/**
 * One forward session: one TCP connection from the device to its target, from `session_open`
 * to exactly one `session_done` (or `error`).
 *
 *   resolving ──connect()──▶ connecting ──'connect'──▶ open ──both sides ended──▶ ended
 *       │                        │                       │
 *       └── refuse() / close() ──┴── timeout / error ────┴── close / idle / max duration ──▶ ended
 *
 * Output (target → client) is read only while the session's OutputWindow is open (under
 * SESSION_WINDOW_BYTES not yet acknowledged by `session_ack`) and the outbox is not backed up:
 * otherwise the socket is paused, so a client that does not read holds back the target, and
 * nothing grows on the device. Input (client → target) is written to the socket and reported
 * with `input_consumed` only once the socket has taken it (write() said so, or 'drain' came): the
 * client's window then holds the rest. A client that ignores the window and sends past twice of
 * it has its session ended (`input_overflow`).
 */
export type TunnelEnd =
  | 'completed'
  | 'closed'
  | 'idle'
  | 'max_duration'
  | 'shutdown'
  | 'refused'
  | 'connect_failed'
  | 'reset'
  | 'input_overflow';

export type ConnectFunction = (options: {
  host: string;
  port: number;
  family: number;
  allowHalfOpen: true;
}) => Socket;

export interface TunnelOptions {
  requestId: string;
  requestedBy: string | undefined;
  /** `host:port` as the request named it, for logs and messages. */
  target: string;
  clock: Clock;
  logger: Logger;
  outbox: Pick<Outbox, 'isBackedUp' | 'onDrain'>;
  window: OutputWindow;
  report: InputReport;
  /** Sends one piece of the target's bytes (a binary frame fd 1, or JSON base64). */
  sendOutput(bytes: Buffer): void;
  /** Tells the client the target will send no more (an eof frame fd 1; nothing in JSON). */
  sendEof(): void;
  /** A JSON reply on the session (`session_opened`, `session_done`, `error`). */
  reply(type: string, payload: Record<string, unknown>): void;
  connect: ConnectFunction;
  connectTimeoutMs: number;
  /** 0: never. */
  idleTimeoutMs: number;
  /** 0: never. */
  maxDurationMs: number;
}

/** Largest output frame: as command output's (src/commands/remote-command.ts). */
const OUTPUT_FRAME_BYTES = 256 * 1024;

/** Input held while the socket does not take it: the client's window, and as much again. */
const MAX_HELD_INPUT = 2 * SESSION_WINDOW_BYTES;

export class ForwardTunnel {
  readonly requestId: string;
  /** Resolves once the session's last message (`session_done` or `error`) has been emitted. */
  readonly done: Promise<void>;
  readonly #o: TunnelOptions;
  readonly #startedAt: number;
  #state: 'resolving' | 'connecting' | 'open' | 'ended' = 'resolving';
  #socket: Socket | null = null;
  #address: string | null = null;
  /** Input that came before the socket existed (while resolving). */
  #early: Buffer[] = [];
  #earlyBytes = 0;
  /** Input written while write() said the socket was full: reported at 'drain'. */
  #unreported = 0;
  #takenUntold = 0;
  /** Output read this turn, not yet sent. */
  #held: Buffer[] = [];
  #heldBytes = 0;
  #sendScheduled = false;
  #takenScheduled = false;
  #inputEnded = false;
  #outputEnded = false;
  #bytesIn = 0;
  #bytesOut = 0;
  #lastActivity: number;
  #timers: TimerHandle[] = [];
  #unsubscribe: (() => void)[] = [];
  #resolveDone!: () => void;

  constructor(options: TunnelOptions) {
    this.#o = options;
    this.requestId = options.requestId;
    this.#startedAt = options.clock.now();
    this.#lastActivity = this.#startedAt;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  get ended(): boolean {
    return this.#state === 'ended';
  }

  /** The policy said no (or the name did not resolve): an `error`, nothing was connected. */
  refuse(code: ErrorCode, message: string, reason: TunnelEnd = 'refused'): void {
    if (this.#state === 'ended') return;
    this.#end(reason, { code, message });
  }

  /**
   * Starts the connect timeout, which covers resolving the name too: a resolver that does not
   * answer must not hold a forward (and its place under forward.maxConnections) for ever.
   */
  begin(): void {
    this.#after(this.#o.connectTimeoutMs, () => {
      if (this.#state === 'resolving' || this.#state === 'connecting')
        this.#end('connect_failed', {
          code: ErrorCode.forwardFailed,
          message: `${this.#o.target}: no connection within ${this.#o.connectTimeoutMs} ms (forward.connectTimeoutMs)`,
        });
    });
  }

  /** Connects to the address the policy checked (never the name again). */
  connect(address: string, family: number, port: number): void {
    if (this.#state !== 'resolving') return;
    this.#state = 'connecting';
    this.#address = address;
    const socket = this.#o.connect({ host: address, port, family, allowHalfOpen: true });
    this.#socket = socket;
    socket.once('connect', () => this.#onConnect(port));
    socket.on('data', (chunk: Buffer) => this.#onOutput(chunk));
    socket.on('end', () => this.#onTargetEnd());
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const connected = this.#state === 'open';
      this.#end(connected ? 'reset' : 'connect_failed', {
        code: ErrorCode.forwardFailed,
        message: connected
          ? `${this.#o.target}: the connection failed: ${err.code ?? err.message}`
          : `${this.#o.target}: cannot connect: ${err.code ?? err.message}`,
      });
    });
    socket.on('close', () => {
      if (this.#state === 'ended') return;
      if (this.#inputEnded && this.#outputEnded) this.#end('completed');
      else
        this.#end('reset', {
          code: ErrorCode.forwardFailed,
          message: `${this.#o.target}: the connection closed before both sides ended`,
        });
    });
    const early = this.#early;
    this.#early = [];
    this.#earlyBytes = 0;
    for (const bytes of early) this.#write(bytes);
    if (this.#inputEnded) socket.end();
  }

  /** Bytes from the client (a binary frame fd 0, or a JSON `session_input`). */
  input(bytes: Buffer): void {
    if (this.#state === 'ended' || this.#inputEnded || bytes.length === 0) return;
    this.#bytesIn += bytes.length;
    this.#o.report.received(bytes.length);
    this.#touch();
    if (this.#socket === null) {
      this.#early.push(bytes);
      this.#earlyBytes += bytes.length;
      if (this.#earlyBytes > MAX_HELD_INPUT) this.#overflow();
      return;
    }
    this.#write(bytes);
  }

  /** The client will send no more (eof fd 0): half-close toward the target. */
  inputEnd(): void {
    if (this.#state === 'ended' || this.#inputEnded) return;
    this.#inputEnded = true;
    this.#touch();
    if (this.#socket) this.#socket.end();
  }

  /** `session_ack`: the client has taken `total` output bytes of this session. */
  ack(total: number): void {
    if (this.#state === 'ended') return;
    this.#o.window.acked(total);
    this.#maybeResume();
  }

  /** `session_close` from the client, or the agent's shutdown. */
  close(reason: 'closed' | 'shutdown' = 'closed'): void {
    if (this.#state === 'ended') return;
    this.#end(reason);
  }

  #onConnect(port: number): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'open';
    this.#touch();
    const socket = this.#socket as Socket;
    this.#unsubscribe.push(
      this.#o.outbox.onDrain(() => this.#maybeResume()),
      this.#o.window.onOpen(() => this.#maybeResume()),
    );
    if (this.#o.idleTimeoutMs > 0) this.#armIdle(this.#o.idleTimeoutMs);
    if (this.#o.maxDurationMs > 0)
      this.#after(this.#o.maxDurationMs, () => this.#end('max_duration'));
    this.#o.reply('session_opened', { address: this.#address, port });
    this.#o.logger.info(
      {
        request_id: this.requestId,
        requested_by: this.#o.requestedBy,
        target: this.#o.target,
        address: this.#address,
        local_port: socket.localPort,
      },
      'forward tunnel opened',
    );
    this.#maybeResume();
  }

  #onOutput(chunk: Buffer): void {
    if (this.#state !== 'open') return;
    this.#bytesOut += chunk.length;
    this.#touch();
    this.#o.window.sent(chunk.length);
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    if (this.#heldBytes >= OUTPUT_FRAME_BYTES) this.#sendHeld();
    else if (!this.#sendScheduled) {
      this.#sendScheduled = true;
      setImmediate(() => {
        this.#sendScheduled = false;
        if (this.#state === 'open') this.#sendHeld();
      });
    }
    if (!this.#o.window.open || this.#o.outbox.isBackedUp()) this.#socket?.pause();
  }

  /**
   * The socket's reads of one turn as one frame (up to OUTPUT_FRAME_BYTES): each frame is a
   * spool record and a relay step, so four 64 KiB reads cost a quarter as much as one each.
   */
  #sendHeld(): void {
    if (this.#heldBytes === 0) return;
    const held = this.#held;
    const bytes = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held, this.#heldBytes);
    this.#held = [];
    this.#heldBytes = 0;
    this.#o.sendOutput(bytes);
  }

  #onTargetEnd(): void {
    if (this.#state !== 'open' || this.#outputEnded) return;
    this.#outputEnded = true;
    this.#sendHeld();
    this.#o.sendEof();
  }

  #maybeResume(): void {
    const socket = this.#socket;
    if (this.#state !== 'open' || socket === null || this.#outputEnded) return;
    if (this.#o.window.open && !this.#o.outbox.isBackedUp()) socket.resume();
  }

  #write(bytes: Buffer): void {
    const socket = this.#socket as Socket;
    const accepted = socket.write(bytes);
    if (accepted && this.#unreported === 0) {
      this.#taken(bytes.length);
      return;
    }
    this.#unreported += bytes.length;
    if (socket.writableLength > MAX_HELD_INPUT) this.#overflow();
  }

  #onDrain(): void {
    if (this.#state === 'ended' || this.#unreported === 0) return;
    const taken = this.#unreported;
    this.#unreported = 0;
    this.#taken(taken);
  }

  /**
   * Input the socket has taken, told to the InputReport once per burst of frames (it reports
   * when caught up): one `input_consumed` per turn of the event loop, not one per frame.
   */
  #taken(bytes: number): void {
    this.#takenUntold += bytes;
    if (this.#takenScheduled) return;
    this.#takenScheduled = true;
    setImmediate(() => {
      this.#takenScheduled = false;
      const taken = this.#takenUntold;
      this.#takenUntold = 0;
      if (this.#state !== 'ended') this.#o.report.taken(taken);
    });
  }

  #overflow(): void {
    this.#end('input_overflow', {
      code: ErrorCode.inputOverflow,
      message: `the client sent more than ${MAX_HELD_INPUT} bytes the target has not taken, past its window`,
    });
  }

  #touch(): void {
    this.#lastActivity = this.#o.clock.now();
  }

  /** Idle: checks when the quiet time could be up, and re-arms for the rest when it is not. */
  #armIdle(delayMs: number): void {
    this.#after(delayMs, () => {
      const quietMs = this.#o.clock.now() - this.#lastActivity;
      if (quietMs >= this.#o.idleTimeoutMs) this.#end('idle');
      else this.#armIdle(this.#o.idleTimeoutMs - quietMs);
    });
  }

  #after(ms: number, fn: () => void): void {
    const handle = this.#o.clock.setTimeout(() => {
      if (this.#state !== 'ended') fn();
    }, ms);
    handle.unref?.();
    this.#timers.push(handle);
  }

  #end(reason: TunnelEnd, error?: { code: ErrorCode; message: string }): void {
    if (this.#state === 'ended') return;
    const wasOpen = this.#state === 'open';
    // What the target sent before a normal end goes before session_done; after a failure the
    // client learns of the error, not of a partial frame.
    if (wasOpen && !error) this.#sendHeld();
    this.#state = 'ended';
    for (const timer of this.#timers) this.#o.clock.clearTimeout(timer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#socket?.destroy();
    this.#early = [];
    const durationMs = Math.round(this.#o.clock.now() - this.#startedAt);
    const figures = {
      request_id: this.requestId,
      requested_by: this.#o.requestedBy,
      target: this.#o.target,
      bytes_in: this.#bytesIn,
      bytes_out: this.#bytesOut,
      duration_ms: durationMs,
      reason,
    };
    if (error) {
      const log = { ...figures, code: error.code };
      if (wasOpen) this.#o.logger.info(log, `forward tunnel closed: ${error.message}`);
      else this.#o.logger.warn(log, `forward refused: ${error.message}`);
      this.#o.reply('error', { code: error.code, message: error.message });
    } else {
      this.#o.logger.info(figures, 'forward tunnel closed');
      this.#o.reply('session_done', {
        exit_code: reason === 'completed' ? 0 : null,
        closed: reason === 'closed' || reason === 'shutdown',
        idle: reason === 'idle',
        timed_out: reason === 'max_duration',
        duration_ms: durationMs,
        bytes_in: this.#bytesIn,
        bytes_out: this.#bytesOut,
      });
    }
    this.#resolveDone();
  }
}
