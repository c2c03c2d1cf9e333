import type { FileHandle } from 'node:fs/promises';
import { ByteFd, ByteKind, type ByteFrame } from '../../protocol/byte-frame.js';

/**
 * Sends one artifact to one device's update session as fd 0 frames, from the device's resume
 * `offset` to the end, then an eof; never more than `window` bytes beyond what the device has
 * reported taken (`input_consumed`, counted from the session's first byte). One read in flight at
 * a time, each into a buffer of its own of at most `chunkBytes`; so what the hub holds for a
 * device is bounded by the window (in the device link's send queue) plus one chunk, whatever
 * the artifact's size or the device's speed.
 *
 * Lifecycle: idle ─start(offset)─▶ sending ─(all sent, eof)─▶ sent; stop() at any time.
 */
export const DEFAULT_SEND_CHUNK_BYTES = 256 * 1024;

export interface ArtifactSenderOptions {
  file: FileHandle;
  size: number;
  stream: number;
  window: number;
  chunkBytes?: number;
  /** Hands a frame to the broker. */
  send: (frame: ByteFrame) => void;
  /** Whether the broker holds this client back now (its device link is backed up). */
  paused: () => boolean;
  /** Registers a one-shot call for when the broker lets the client send again. */
  whenResumed: (resume: () => void) => void;
  onError: (err: Error) => void;
}

export class ArtifactSender {
  readonly #o: ArtifactSenderOptions;
  #state: 'idle' | 'sending' | 'sent' | 'stopped' = 'idle';
  #offset = 0;
  /** Bytes sent in this session (from `offset`). */
  #sent = 0;
  /** Bytes the device reported taken in this session. */
  #consumed = 0;
  #reading = false;
  #waitingResume = false;

  constructor(options: ArtifactSenderOptions) {
    this.#o = options;
  }

  get offset(): number {
    return this.#offset;
  }

  /** Bytes of the artifact the device holds by its own count (resumed ones included). */
  get deviceBytes(): number {
    return this.#offset + this.#consumed;
  }

  /** Bytes handed to the broker and not yet reported taken by the device. */
  get inFlight(): number {
    return this.#sent - this.#consumed;
  }

  get allConsumed(): boolean {
    return this.#offset + this.#consumed >= this.#o.size;
  }

  start(offset: number): void {
    if (this.#state !== 'idle') return;
    this.#state = 'sending';
    this.#offset = offset;
    this.#pump();
  }

  consumed(bytes: number): void {
    if (bytes > this.#consumed) this.#consumed = Math.min(bytes, this.#sent);
    this.#pump();
  }

  stop(): void {
    this.#state = 'stopped';
  }

  #pump(): void {
    if (this.#state !== 'sending' || this.#reading) return;
    if (this.#o.paused()) {
      if (!this.#waitingResume) {
        this.#waitingResume = true;
        this.#o.whenResumed(() => {
          this.#waitingResume = false;
          this.#pump();
        });
      }
      return;
    }
    const position = this.#offset + this.#sent;
    if (position >= this.#o.size) {
      this.#state = 'sent';
      this.#o.send(frame(ByteKind.eof, this.#o.stream, new Uint8Array(0)));
      return;
    }
    const room = this.#o.window - this.inFlight;
    if (room <= 0) return; // the next input_consumed calls again
    const length = Math.min(
      room,
      this.#o.chunkBytes ?? DEFAULT_SEND_CHUNK_BYTES,
      this.#o.size - position,
    );
    this.#reading = true;
    const buffer = Buffer.allocUnsafeSlow(length);
    this.#o.file.read(buffer, 0, length, position).then(
      ({ bytesRead }) => {
        this.#reading = false;
        if (this.#state !== 'sending') return;
        if (bytesRead === 0) {
          this.#state = 'stopped';
          this.#o.onError(new Error(`the artifact ended at ${position} of ${this.#o.size} bytes`));
          return;
        }
        this.#sent += bytesRead;
        this.#o.send(frame(ByteKind.data, this.#o.stream, buffer.subarray(0, bytesRead)));
        this.#pump();
      },
      (err: unknown) => {
        this.#reading = false;
        if (this.#state !== 'sending') return;
        this.#state = 'stopped';
        this.#o.onError(err as Error);
      },
    );
  }
}

function frame(kind: ByteKind, stream: number, data: Uint8Array): ByteFrame {
  return { kind, stream, fd: ByteFd.stdin, seq: 0, data };
}
