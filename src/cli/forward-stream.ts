import type { Socket } from 'node:net';
import { ByteFd, ByteKind, MAX_BYTE_FRAME_DATA, type ByteFrame } from '../protocol/byte-frame.js';
import { isPlainObject } from '../protocol/schema.js';

/**
 * One local TCP connection of `iottly-agent forward`, carried as one forward session on the
 * hub's WebSocket under its own request_id and stream number (docs/protocol.md, "Port
 * forwarding").
 *
 *   opening ──session_opened──▶ open ──session_done / error──▶ ended
 *      └──────── local close / link lost ─────────────────────────┘
 *
 * Flow control, per connection, so one slow side never stalls the others:
 * - input: the local socket is read only while fewer than `windowBytes` sent bytes are not yet
 *   reported taken by the device (`input_consumed`) and the WebSocket is not backed up;
 * - output: bytes from the device are written to the local socket, and acknowledged
 *   (`session_ack`, cumulative) only once it has taken them (write() said so, or 'drain'); the
 *   agent sends no more than its window past the last acknowledgement.
 */
export interface StreamLink {
  sendJson(message: Record<string, unknown>): void;
  sendBytes(frame: Omit<ByteFrame, 'seq'>): void;
  /** The WebSocket's own queue is over its high-water mark. */
  backedUp(): boolean;
}

export interface ForwardStreamOptions {
  requestId: string;
  stream: number;
  socket: Socket;
  link: StreamLink;
  deviceId: string;
  host: string;
  port: number;
  windowBytes: number;
  /** A line for stderr. */
  log(line: string): void;
  /** Called once, when the stream has ended (the caller forgets it). */
  onEnd(): void;
}

/** An ack at least this often while output flows (the agent's window is 1 MiB). */
const ACK_EVERY_BYTES = 256 * 1024;

export class ForwardStream {
  readonly #o: ForwardStreamOptions;
  #state: 'opening' | 'open' | 'ended' = 'opening';
  #sent = 0;
  #consumed = 0;
  #taken = 0;
  #acked = 0;
  #unwritten = 0;
  #ackScheduled = false;
  #localEnded = false;
  #outputEnded = false;
  readonly #peer: string;

  constructor(options: ForwardStreamOptions) {
    this.#o = options;
    const { socket } = options;
    this.#peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.pause();
    socket.on('data', (chunk: Buffer) => this.#onLocalData(chunk));
    socket.on('end', () => this.#onLocalEnd());
    socket.on('drain', () => this.#onLocalDrain());
    socket.on('error', () => undefined); // 'close' follows; the reason does not matter here
    socket.on('close', () => this.#onLocalClose());
  }

  get requestId(): string {
    return this.#o.requestId;
  }

  open(): void {
    this.#o.link.sendJson({
      type: 'session_open',
      request_id: this.#o.requestId,
      payload: {
        device_id: this.#o.deviceId,
        kind: 'forward',
        host: this.#o.host,
        port: this.#o.port,
        stream: this.#o.stream,
      },
    });
  }

  /** A JSON frame under this stream's request_id. */
  onJson(type: string, payload: Record<string, unknown>): void {
    if (this.#state === 'ended') return;
    if (type === 'session_opened') {
      this.#state = 'open';
      this.#pump();
    } else if (type === 'input_consumed' && typeof payload.bytes === 'number') {
      this.#consumed = Math.max(this.#consumed, payload.bytes);
      this.#pump();
    } else if (type === 'session_done') {
      const error = payload.error;
      if (isPlainObject(error)) this.#end(`${String(error.code)}: ${String(error.message)}`, true);
      else this.#end(this.#doneReason(payload), !this.#outputEnded);
    } else if (type === 'error') {
      this.#end(`${String(payload.code)}: ${String(payload.message)}`, true);
    }
  }

  /** A binary frame under this stream's number. */
  onBytes(kind: number, fd: number, data: Uint8Array): void {
    if (this.#state === 'ended' || fd !== ByteFd.stdout || this.#outputEnded) return;
    if (kind === ByteKind.eof) {
      this.#outputEnded = true;
      this.#o.socket.end();
      return;
    }
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
    const accepted = this.#o.socket.write(bytes);
    // Taken at once only while nothing waits for 'drain'; otherwise with what waits, at 'drain'.
    if (accepted && this.#unwritten === 0) this.#took(bytes.length);
    else this.#unwritten += bytes.length;
  }

  /** The WebSocket drained: read the local socket again if the window allows. */
  pump(): void {
    this.#pump();
  }

  /** The hub's connection is gone: this connection cannot go on. */
  abort(reason: string): void {
    this.#end(reason, true);
  }

  #onLocalData(chunk: Buffer): void {
    if (this.#state !== 'open') return;
    for (let at = 0; at < chunk.length; at += MAX_BYTE_FRAME_DATA) {
      const data = chunk.subarray(at, at + MAX_BYTE_FRAME_DATA);
      this.#sent += data.length;
      this.#o.link.sendBytes({
        kind: ByteKind.data,
        stream: this.#o.stream,
        fd: ByteFd.stdin,
        data,
      });
    }
    this.#pump();
  }

  #onLocalEnd(): void {
    if (this.#state === 'ended' || this.#localEnded) return;
    this.#localEnded = true;
    this.#o.link.sendBytes({
      kind: ByteKind.eof,
      stream: this.#o.stream,
      fd: ByteFd.stdin,
      data: new Uint8Array(0),
    });
  }

  #onLocalDrain(): void {
    if (this.#unwritten === 0) return;
    const taken = this.#unwritten;
    this.#unwritten = 0;
    this.#took(taken);
  }

  #onLocalClose(): void {
    if (this.#state === 'ended') return;
    this.#o.link.sendJson({
      type: 'session_close',
      request_id: this.#o.requestId,
      payload: {},
    });
    this.#end('closed locally', false);
  }

  /** Output the local socket has taken: acknowledged now and then, and when a burst is over. */
  #took(bytes: number): void {
    this.#taken += bytes;
    if (this.#taken - this.#acked >= ACK_EVERY_BYTES) this.#ack();
    else if (!this.#ackScheduled) {
      this.#ackScheduled = true;
      setImmediate(() => {
        this.#ackScheduled = false;
        this.#ack();
      });
    }
  }

  #ack(): void {
    if (this.#state === 'ended' || this.#taken === this.#acked) return;
    this.#acked = this.#taken;
    this.#o.link.sendJson({
      type: 'session_ack',
      request_id: this.#o.requestId,
      payload: { bytes: this.#taken },
    });
  }

  #pump(): void {
    const { socket } = this.#o;
    if (this.#state !== 'open' || this.#localEnded) return;
    const blocked = this.#sent - this.#consumed >= this.#o.windowBytes || this.#o.link.backedUp();
    if (blocked) socket.pause();
    else socket.resume();
  }

  #doneReason(payload: Record<string, unknown>): string {
    if (payload.idle === true) return 'idle timeout on the device';
    if (payload.timed_out === true) return 'forward.maxDurationS reached on the device';
    if (payload.closed === true) return 'closed by the device';
    return 'done';
  }

  #end(reason: string, reset: boolean): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    const { socket } = this.#o;
    // Output already written reaches the local client before a normal close.
    if (reset || socket.destroyed) socket.destroy();
    else socket.end(() => socket.destroy());
    this.#o.log(
      `connection ${this.#o.stream} from ${this.#peer} closed (${reason}; ${this.#sent} bytes out, ${this.#taken + this.#unwritten} in)`,
    );
    this.#o.onEnd();
  }
}
