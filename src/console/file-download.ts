import { ByteFd, ByteKind, type ByteFrame } from '../protocol/byte-frame.js';
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
 * One download from a device to the page at a time: a `file_get` session (docs/protocol.md).
 *
 *     idle ─start()─▶ opening ─session_opened {size}─▶ receiving ─session_done─▶ idle (ended)
 *     any but idle ─cancel() / connectionLost() / too large / error + session_done─▶ idle
 *
 * A page cannot stream to disk without APIs not every browser has, so the bytes are kept in
 * memory until the end and saved as a Blob: a download is bounded by MAX_DOWNLOAD_BYTES, refused
 * when `session_opened` announces more and cut when more arrives than was announced. Bigger
 * files: `iottly-agent cp`. Bytes are hashed as they come and taken at once, and `session_ack`
 * tells the device so every ACK_EVERY_BYTES, which keeps its window (SESSION_WINDOW_BYTES)
 * moving. The result counts only when the device's sha256 is the one of the bytes received.
 */
export const MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024;
/** How many received bytes make a `session_ack`: a quarter of the device's window. */
export const ACK_EVERY_BYTES = SESSION_WINDOW_BYTES / 4;

export interface DownloadSink {
  progress(progress: TransferProgress): void;
  /** The file, in the pieces it came in (each a view of its own frame), before `ended`. */
  file(parts: Uint8Array[], info: { name: string; size: number; mode: number | undefined }): void;
  ended(result: TransferResult): void;
}

type DownloadState =
  | { kind: 'idle' }
  | {
      kind: 'opening' | 'receiving';
      requestId: string;
      stream: number;
      path: string;
      size: number | null;
      mode: number | undefined;
      parts: Uint8Array[];
      hash: Sha256;
      received: number;
      acked: number;
      eof: boolean;
      error?: { code: string; message: string };
    };

export class FileDownload {
  readonly #transport: TransferTransport;
  readonly #sink: DownloadSink;
  readonly #nextId: () => number;
  readonly #maxBytes: number;
  #state: DownloadState = { kind: 'idle' };

  constructor(
    transport: TransferTransport,
    sink: DownloadSink,
    nextId: () => number,
    maxBytes = MAX_DOWNLOAD_BYTES,
  ) {
    this.#transport = transport;
    this.#sink = sink;
    this.#nextId = nextId;
    this.#maxBytes = maxBytes;
  }

  get active(): boolean {
    return this.#state.kind !== 'idle';
  }

  /** Asks the device for the file at `path`; false when not sent (busy, not connected). */
  start(deviceId: string, path: string): boolean {
    if (this.#state.kind !== 'idle') return false;
    const id = this.#nextId();
    const requestId = `get-${id}`;
    const sent = this.#transport.send({
      type: 'session_open',
      request_id: requestId,
      payload: { device_id: deviceId, kind: 'file_get', path, stream: id },
    });
    if (!sent) return false;
    this.#state = {
      kind: 'opening',
      requestId,
      stream: id,
      path,
      size: null,
      mode: undefined,
      parts: [],
      hash: new Sha256(),
      received: 0,
      acked: 0,
      eof: false,
    };
    this.#sink.progress({ phase: 'opening', done: 0, total: null });
    return true;
  }

  cancel(): void {
    this.#fail(TransferError.cancelled, 'cancelled');
  }

  connectionLost(): void {
    this.#fail(TransferError.connectionLost, 'the connection to the hub dropped');
  }

  onBytes(frame: ByteFrame): void {
    const s = this.#state;
    if (s.kind === 'idle' || frame.stream !== s.stream || frame.fd !== ByteFd.stdout) return;
    if (frame.kind === ByteKind.eof) {
      s.eof = true;
      return;
    }
    this.#take(frame.data);
  }

  /** Takes the frames of this download; false for anyone else's. */
  onFrame(frame: ParsedFrame): boolean {
    const s = this.#state;
    if (s.kind === 'idle' || frame.request_id !== s.requestId) return false;
    const payload = frame.payload as Record<string, unknown>;
    switch (frame.type) {
      case 'session_opened': {
        const size = payload['size'];
        if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
          this.#fail(TransferError.protocol, `the device announced no size (${String(size)})`);
          return true;
        }
        if (size > this.#maxBytes) {
          this.#fail(TransferError.tooLarge, tooLarge(size, this.#maxBytes));
          return true;
        }
        const mode = payload['mode'];
        s.kind = 'receiving';
        s.size = size;
        s.mode = typeof mode === 'number' && Number.isInteger(mode) ? mode : undefined;
        this.#report();
        return true;
      }
      case 'session_output':
        // A hub that relays the device's bytes as base64 JSON instead of binary frames.
        if (typeof payload['data'] === 'string') this.#take(base64Bytes(payload['data']));
        return true;
      case 'error':
        s.error = errorOf(payload); // the hub follows it with session_done
        return true;
      case 'session_done':
        this.#done(payload);
        return true;
      default:
        return false;
    }
  }

  #take(bytes: Uint8Array): void {
    const s = this.#state;
    if (s.kind !== 'receiving') {
      if (s.kind === 'opening') this.#fail(TransferError.protocol, 'bytes before session_opened');
      return;
    }
    const received = s.received + bytes.length;
    if (s.size !== null && received > s.size) {
      this.#fail(TransferError.protocol, `more than the ${s.size} bytes the device announced`);
      return;
    }
    s.hash.update(bytes);
    s.parts.push(bytes);
    s.received = received;
    if (s.received - s.acked >= ACK_EVERY_BYTES || s.received === s.size) {
      s.acked = s.received;
      this.#transport.send({
        type: 'session_ack',
        request_id: s.requestId,
        payload: { bytes: s.received },
      });
    }
    this.#report();
  }

  #report(): void {
    const s = this.#state;
    if (s.kind !== 'receiving') return;
    const phase = s.received === s.size ? 'verifying' : 'receiving';
    this.#sink.progress({ phase, done: s.received, total: s.size });
  }

  #done(payload: Record<string, unknown>): void {
    const s = this.#state;
    if (s.kind === 'idle') return;
    if (s.error || payload['exit_code'] !== 0 || s.kind !== 'receiving')
      return this.#end(failureOf(payload, s.error));
    if (s.received !== s.size)
      return this.#end({
        ok: false,
        code: TransferError.protocol,
        message: `the device announced ${s.size} bytes and sent ${s.received}`,
      });
    const ours = s.hash.hex();
    const theirs = payload['sha256'];
    if (typeof theirs !== 'string' || !SHA256_HEX.test(theirs) || theirs !== ours)
      return this.#end({
        ok: false,
        code: TransferError.sha256Mismatch,
        message: `the device read sha256 ${String(theirs)}, the bytes here have ${ours}`,
      });
    this.#sink.file(s.parts, { name: baseName(s.path), size: s.received, mode: s.mode });
    this.#end({ ok: true, bytes: s.received, sha256: ours });
  }

  #fail(code: string, message: string): void {
    const s = this.#state;
    if (s.kind === 'idle') return;
    this.#transport.send({ type: 'session_close', request_id: s.requestId, payload: {} });
    this.#end({ ok: false, code, message });
  }

  #end(result: TransferResult): void {
    this.#state = { kind: 'idle' }; // the parts go with it
    this.#sink.ended(result);
  }
}

function tooLarge(size: number, max: number): string {
  const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  return `${mib(size)} is over the console's ${mib(max)} download limit: use iottly-agent cp`;
}

/** The last part of a device path, the name the browser saves the file under. */
export function baseName(path: string): string {
  const name = path.replace(/\/+$/, '').split('/').pop() ?? '';
  return name === '' ? 'download' : name;
}

function base64Bytes(text: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return new Uint8Array(0);
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
