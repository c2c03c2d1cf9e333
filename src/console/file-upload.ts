import { ByteFd, ByteKind } from '../protocol/byte-frame.js';
import type { ParsedFrame } from '../protocol/parse.js';
import { SESSION_WINDOW_BYTES } from '../protocol/sessions.js';
import {
  errorOf,
  failureOf,
  SHA256_HEX,
  TransferError,
  type TransferProgress,
  type TransferResult,
  type TransferTransport,
} from './file-transfer.js';
import { Sha256 } from './sha256.js';

/**
 * One upload from the page to a device at a time: a `file_put` session (docs/protocol.md).
 *
 *     idle ─start()─▶ hashing ─sha256 known, session_open─▶ opening ─session_opened─▶ sending
 *     sending ─last byte and eof sent─▶ verifying ─session_done─▶ idle (ended)
 *     any but idle ─cancel() / connectionLost() / error + session_done / a read failing─▶ idle
 *
 * The file is read twice, slice by slice (`Blob.slice`, never whole): once to hash it, since
 * `session_open` carries the sha256 up front, then to send it. At most SESSION_WINDOW_BYTES
 * are sent and not yet reported taken by the device's `input_consumed`, so a slow device (or
 * link) holds the page's reading, not memory anywhere. When the device already holds part of
 * this very content (`session_opened.offset`, a `.iottly-part` left by an interrupted transfer)
 * the upload goes on from there. Exactly one `ended` per `start` that returned true.
 */
export interface FileSource {
  readonly size: number;
  /** Bytes [offset, offset + length) of the file (`Blob.slice(…).arrayBuffer()`). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface UploadSink {
  progress(progress: TransferProgress): void;
  ended(result: TransferResult): void;
}

export interface UploadRequest {
  deviceId: string;
  /** Absolute path of the target on the device. */
  path: string;
  /** Permission bits for the target (0..0o7777); the device's default when absent. */
  mode?: number;
}

/** Bytes read and hashed at a time before the upload opens. */
export const HASH_SLICE_BYTES = 1024 * 1024;
/** Bytes in one binary frame of the upload: four in the window, each far under a frame's limit. */
export const UPLOAD_FRAME_BYTES = 256 * 1024;

type UploadState =
  | { kind: 'idle' }
  | { kind: 'hashing'; run: number; request: UploadRequest; source: FileSource }
  | {
      kind: 'opening' | 'sending' | 'verifying';
      run: number;
      source: FileSource;
      requestId: string;
      stream: number;
      sha256: string;
      /** The file offset the device had (resume), then the next byte to send. */
      start: number;
      next: number;
      /** Bytes of this session sent, and taken by the device (input_consumed). */
      sent: number;
      consumed: number;
      error?: { code: string; message: string };
    };

export class FileUpload {
  readonly #transport: TransferTransport;
  readonly #sink: UploadSink;
  readonly #nextId: () => number;
  #state: UploadState = { kind: 'idle' };
  /** Which start() the async reads belong to: a read that returns after the end is dropped. */
  #run = 0;
  #reading = false;
  /**
   * One slice read while the window is full, so the bytes are at hand when the device reports it
   * has taken some (a Blob read takes a trip to the browser's file backend): at most one frame.
   */
  #ahead: { offset: number; length: number; bytes: Promise<Uint8Array> } | null = null;

  constructor(transport: TransferTransport, sink: UploadSink, nextId: () => number) {
    this.#transport = transport;
    this.#sink = sink;
    this.#nextId = nextId;
  }

  get active(): boolean {
    return this.#state.kind !== 'idle';
  }

  /** Starts hashing, then the upload; false when one is already running. */
  start(request: UploadRequest, source: FileSource): boolean {
    if (this.#state.kind !== 'idle') return false;
    this.#run += 1;
    this.#state = { kind: 'hashing', run: this.#run, request, source };
    void this.#hash(this.#run);
    return true;
  }

  /** Stops the upload: the device keeps what it has as a part for a later resume. */
  cancel(): void {
    this.#fail(TransferError.cancelled, 'cancelled');
  }

  connectionLost(): void {
    this.#fail(TransferError.connectionLost, 'the connection to the hub dropped');
  }

  /** Takes the frames of this upload; false for anyone else's. */
  onFrame(frame: ParsedFrame): boolean {
    const s = this.#state;
    if (s.kind === 'idle' || s.kind === 'hashing' || frame.request_id !== s.requestId) return false;
    const payload = frame.payload as Record<string, unknown>;
    switch (frame.type) {
      case 'session_opened': {
        if (s.kind !== 'opening') return true;
        const offset = payload['offset'] ?? 0;
        if (
          typeof offset !== 'number' ||
          !Number.isSafeInteger(offset) ||
          offset < 0 ||
          offset > s.source.size
        ) {
          this.#fail(TransferError.protocol, `the device offered to resume at ${String(offset)}`);
          return true;
        }
        this.#state = { ...s, kind: 'sending', start: offset, next: offset };
        this.#report();
        void this.#pump(s.run);
        return true;
      }
      case 'input_consumed': {
        if (s.kind === 'opening') return true;
        const bytes = payload['bytes'];
        if (typeof bytes === 'number' && bytes > s.consumed) s.consumed = Math.min(bytes, s.sent);
        this.#report();
        void this.#pump(s.run);
        return true;
      }
      case 'error':
        s.error = errorOf(payload); // the hub follows it with session_done
        return true;
      case 'session_done':
        this.#done(payload, s.sha256, s.error);
        return true;
      default:
        return false;
    }
  }

  async #hash(run: number): Promise<void> {
    const s = this.#state;
    if (s.kind !== 'hashing') return;
    const hash = new Sha256();
    try {
      for (let at = 0; at < s.source.size; at += HASH_SLICE_BYTES) {
        this.#sink.progress({ phase: 'hashing', done: at, total: s.source.size });
        const bytes = await s.source.read(at, Math.min(HASH_SLICE_BYTES, s.source.size - at));
        if (this.#run !== run) return;
        hash.update(bytes);
      }
    } catch (err) {
      if (this.#run === run) this.#fail(TransferError.readFailed, (err as Error).message);
      return;
    }
    if (hash.length !== s.source.size) {
      this.#fail(TransferError.readFailed, 'the file changed while it was read');
      return;
    }
    this.#open(s.request, s.source, hash.hex());
  }

  #open(request: UploadRequest, source: FileSource, sha256: string): void {
    const id = this.#nextId();
    const requestId = `put-${id}`;
    const payload: Record<string, unknown> = {
      device_id: request.deviceId,
      kind: 'file_put',
      path: request.path,
      size: source.size,
      sha256,
      stream: id,
    };
    if (request.mode !== undefined) payload['mode'] = request.mode;
    if (!this.#transport.send({ type: 'session_open', request_id: requestId, payload })) {
      this.#end({ ok: false, code: TransferError.connectionLost, message: 'not connected' });
      return;
    }
    this.#state = {
      kind: 'opening',
      run: this.#run,
      source,
      requestId,
      stream: id,
      sha256,
      start: 0,
      next: 0,
      sent: 0,
      consumed: 0,
    };
    this.#sink.progress({ phase: 'opening', done: 0, total: source.size });
  }

  /** Sends what the window allows; one read at a time, called again by every input_consumed. */
  async #pump(run: number): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      for (;;) {
        const s = this.#state;
        if (s.kind !== 'sending' || s.run !== run) return;
        if (s.next >= s.source.size) {
          this.#transport.sendBytes(eof(s.stream));
          this.#state = { ...s, kind: 'verifying' };
          this.#report();
          return;
        }
        const length = Math.min(UPLOAD_FRAME_BYTES, s.source.size - s.next);
        if (SESSION_WINDOW_BYTES - (s.sent - s.consumed) < length) {
          // The window is full: read the next slice meanwhile, the next input_consumed sends it.
          this.#readAhead(s.source, s.next, length);
          return;
        }
        let bytes: Uint8Array;
        try {
          bytes = await this.#read(s.source, s.next, length);
        } catch (err) {
          if (this.#run === run) this.#fail(TransferError.readFailed, (err as Error).message);
          return;
        }
        // input_consumed mutates the state in place; anything else (an end) replaces it.
        if (this.#state !== s) return;
        if (bytes.length !== length) {
          this.#fail(TransferError.readFailed, 'the file changed while it was read');
          return;
        }
        if (!this.#transport.sendBytes(data(s.stream, bytes))) return; // the connection ends it
        s.next += length;
        s.sent += length;
      }
    } finally {
      this.#reading = false;
    }
  }

  /** The slice read ahead, if it is this one; else a read of it. */
  #read(source: FileSource, offset: number, length: number): Promise<Uint8Array> {
    const ahead = this.#ahead;
    this.#ahead = null;
    if (ahead && ahead.offset === offset && ahead.length === length) return ahead.bytes;
    return source.read(offset, length);
  }

  #readAhead(source: FileSource, offset: number, length: number): void {
    if (this.#ahead) return;
    const bytes = source.read(offset, length);
    bytes.catch(() => {}); // a failure shows when the slice is sent, not as an unhandled one
    this.#ahead = { offset, length, bytes };
  }

  #report(): void {
    const s = this.#state;
    if (s.kind !== 'sending' && s.kind !== 'verifying') return;
    this.#sink.progress({ phase: s.kind, done: s.start + s.consumed, total: s.source.size });
  }

  #done(
    payload: Record<string, unknown>,
    sha256: string,
    error: { code: string; message: string } | undefined,
  ): void {
    if (error || payload['exit_code'] !== 0) return this.#end(failureOf(payload, error));
    const theirs = payload['sha256'];
    if (typeof theirs !== 'string' || !SHA256_HEX.test(theirs) || theirs !== sha256) {
      return this.#end({
        ok: false,
        code: TransferError.sha256Mismatch,
        message: `the device wrote sha256 ${String(theirs)}, the file here has ${sha256}`,
      });
    }
    const s = this.#state;
    this.#end({ ok: true, bytes: s.kind === 'idle' ? 0 : s.source.size, sha256 });
  }

  #fail(code: string, message: string): void {
    const s = this.#state;
    if (s.kind === 'idle') return;
    if (s.kind !== 'hashing')
      this.#transport.send({ type: 'session_close', request_id: s.requestId, payload: {} });
    this.#end({ ok: false, code, message });
  }

  #end(result: TransferResult): void {
    this.#state = { kind: 'idle' };
    this.#run += 1; // reads still in flight belong to no upload now
    this.#ahead = null;
    this.#sink.ended(result);
  }
}

const data = (stream: number, bytes: Uint8Array) => ({
  kind: ByteKind.data,
  stream,
  fd: ByteFd.stdin,
  seq: 0,
  data: bytes,
});

const eof = (stream: number) => ({
  kind: ByteKind.eof,
  stream,
  fd: ByteFd.stdin,
  seq: 0,
  data: new Uint8Array(0),
});
