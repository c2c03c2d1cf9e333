import WebSocket from 'ws';
import {
  ByteFd,
  ByteKind,
  binaryData,
  decodeByteFrame,
  encodeByteFrame,
} from '../protocol/byte-frame.js';
import { decodeJson } from '../protocol/bounded-json.js';
import { MAX_FRAME_BYTES } from '../protocol/message.js';
import { isPlainObject } from '../protocol/schema.js';

/**
 * One session of a stream client (`iottly-agent cp`) on the hub's `/v1/stream`: opens the
 * socket, sends `session_open` under one request_id and stream number, hands the session's
 * replies and output bytes to its handlers, and settles once with how it ended: `session_done`
 * (with or without an error), or the socket gone before it (a drop the caller may retry).
 */
export type SessionEnd =
  | { kind: 'done'; payload: Record<string, unknown> }
  | { kind: 'dropped'; message: string }
  /** The hub refused the connection itself (an HTTP status at the upgrade): no retry helps. */
  | { kind: 'refused'; message: string };

export interface SessionHandlers {
  /** A JSON reply of the session other than `session_done` (session_opened, input_consumed, error). */
  reply(type: string, payload: Record<string, unknown>): void;
  /** Output bytes (fd 1 data). */
  bytes?(data: Uint8Array): void;
  /** The output's eof. */
  end?(): void;
}

export const SESSION_STREAM = 1;
/** What the socket may hold unsent before the sender waits (the window bounds it anyway). */
export const SOCKET_HIGH_WATER_BYTES = 1024 * 1024;

export class StreamSession {
  readonly result: Promise<SessionEnd>;
  readonly #socket: WebSocket;
  readonly #requestId: string;
  #settle!: (end: SessionEnd) => void;
  #settled = false;
  readonly #drainWaiters = new Set<() => void>();

  constructor(
    url: string,
    apiKey: string,
    requestId: string,
    open: Record<string, unknown>,
    handlers: SessionHandlers,
  ) {
    this.#requestId = requestId;
    this.result = new Promise((resolve) => (this.#settle = resolve));
    const socket = new WebSocket(url, {
      headers: { Authorization: `Bearer ${apiKey}` },
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      // Bytes go unmasked in effect, as exec's stdin (no browser is involved).
      generateMask: (mask: Buffer) => mask.fill(0),
    });
    this.#socket = socket;
    socket.on('open', () => this.sendJson('session_open', { ...open, stream: SESSION_STREAM }));
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        const decoded = decodeByteFrame(binaryData(data as Buffer));
        if (!decoded.ok || decoded.frame.stream !== SESSION_STREAM) return;
        if (decoded.frame.fd !== ByteFd.stdout) return;
        if (decoded.frame.kind === ByteKind.eof) handlers.end?.();
        else handlers.bytes?.(decoded.frame.data);
        return;
      }
      const parsed = decodeJson((data as Buffer).toString('utf8'), { maxBytes: MAX_FRAME_BYTES });
      if (!parsed.ok || !isPlainObject(parsed.value)) return;
      const frame = parsed.value;
      if (frame.request_id !== requestId || typeof frame.type !== 'string') return;
      const payload = isPlainObject(frame.payload) ? frame.payload : {};
      if (frame.type === 'session_done') this.#finish({ kind: 'done', payload });
      else handlers.reply(frame.type, payload);
    });
    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      this.#finish({
        kind: 'refused',
        message:
          status === 401 || status === 403
            ? `the hub refused the API key (HTTP ${status})`
            : `the hub answered HTTP ${status} at ${url}`,
      });
    });
    socket.on('error', (err) =>
      this.#finish({ kind: 'dropped', message: `cannot reach the hub at ${url}: ${err.message}` }),
    );
    socket.on('close', (code) =>
      this.#finish({ kind: 'dropped', message: `the hub closed the connection (${code})` }),
    );
  }

  get backedUp(): boolean {
    return this.#socket.bufferedAmount >= SOCKET_HIGH_WATER_BYTES;
  }

  sendJson(type: string, payload: Record<string, unknown>): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(JSON.stringify({ type, request_id: this.#requestId, payload }), () =>
      this.#drained(),
    );
  }

  sendBytes(data: Uint8Array): void {
    this.#sendFrame(ByteKind.data, data);
  }

  sendEof(): void {
    this.#sendFrame(ByteKind.eof, new Uint8Array(0));
  }

  /** Runs `listener` once the socket has written what it held (after a send's callback). */
  onDrain(listener: () => void): void {
    this.#drainWaiters.add(listener);
  }

  /** Ends the session from this side (the hub closes it on the device). */
  close(): void {
    this.#finish({ kind: 'dropped', message: 'closed' });
  }

  #sendFrame(kind: ByteKind, data: Uint8Array): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    this.#socket.send(
      encodeByteFrame({ kind, stream: SESSION_STREAM, fd: ByteFd.stdin, seq: 0, data }),
      () => this.#drained(),
    );
  }

  #drained(): void {
    if (this.backedUp) return;
    const waiters = [...this.#drainWaiters];
    this.#drainWaiters.clear();
    for (const waiter of waiters) waiter();
  }

  #finish(end: SessionEnd): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#socket.removeAllListeners('close');
    this.#socket.on('close', () => {});
    this.#socket.on('error', () => {});
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(1000, 'done');
    else this.#socket.terminate();
    this.#settle(end);
  }
}
