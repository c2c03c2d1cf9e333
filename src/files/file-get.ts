import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Outbox } from '../agent/outbox.js';
import { OutputWindow } from '../agent/session-window.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { FILE_CHUNK_BYTES, hashPrefix } from './hash-range.js';
import { fsRefusal, NO_FOLLOW, quote, type PathPolicy, type ResolvedPath } from './path-policy.js';
import { TransferError, type TransferReplies } from './transfer-end.js';

/**
 * One download (`file_get`) from `session_open` to its end: `session_opened` {size, mode}, the
 * bytes from the client's `offset` to the size the file had when it was opened, an eof, and
 * `session_done` with the sha256 of the whole file (bytes before `offset` are read and hashed,
 * not sent, so a resumed download is still checked end to end).
 *
 * Reading is paced twice: at most the session window unacknowledged by the client
 * (`session_ack`), and not while the outbox is backed up (the link down or slow). So a client
 * that does not read stalls only its own download, and the agent holds one chunk at a time.
 */
export interface FileGetOptions {
  requestId: string;
  path: string;
  offset: number;
  resolved: ResolvedPath;
  policy: PathPolicy;
  maxBytes: number;
  outbox: Pick<Outbox, 'isBackedUp' | 'onDrain'>;
  window?: OutputWindow;
  /** Sends one piece of the file (a binary frame, or base64 JSON for a client without them). */
  sendBytes(bytes: Buffer): void;
  /** Says that no more bytes follow (an eof frame; nothing for JSON clients). */
  sendEnd(): void;
  replies: TransferReplies;
  logger: Logger;
}

type State = 'opening' | 'sending' | 'ended';

export class FileGet {
  readonly requestId: string;
  readonly done: Promise<void>;
  readonly #o: FileGetOptions;
  readonly #window: OutputWindow;
  readonly #hash = createHash('sha256');
  #state: State = 'opening';
  #handle: FileHandle | null = null;
  #size = 0;
  #at = 0;
  #reading = false;
  #unsubscribe: (() => void)[] = [];
  #resolveDone!: () => void;

  constructor(options: FileGetOptions) {
    this.#o = options;
    this.requestId = options.requestId;
    this.#window = options.window ?? new OutputWindow();
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  async start(): Promise<void> {
    const { resolved, offset } = this.#o;
    try {
      const handle = await open(resolved.target, constants.O_RDONLY | NO_FOLLOW);
      this.#handle = handle;
      const st = await handle.stat();
      if (!st.isFile() || !(await this.#o.policy.verifyOpened(handle.fd, resolved.target, st)))
        throw new TransferError(
          ErrorCode.fileDenied,
          `${quote(this.#o.path)} changed while it was opened`,
        );
      if (this.#state !== 'opening') return void (await this.#closeHandle());
      if (st.size > this.#o.maxBytes)
        throw new TransferError(
          ErrorCode.fileTooLarge,
          `${quote(this.#o.path)} has ${st.size} bytes, over files.maxBytes (${this.#o.maxBytes})`,
        );
      if (offset > st.size)
        // The client's part cannot be a prefix of this file: it changed since (cp starts over).
        throw new TransferError(
          ErrorCode.fileCorrupt,
          `offset ${offset} is past the end of ${quote(this.#o.path)} (${st.size} bytes): the file changed since the part was made`,
        );
      this.#size = st.size;
      this.#o.replies.emit('session_opened', { size: st.size, mode: st.mode & 0o7777 });
      if (!(await hashPrefix(handle, this.#hash, offset)))
        throw new TransferError(
          ErrorCode.fileCorrupt,
          `${quote(this.#o.path)} shrank while it was read`,
        );
    } catch (err) {
      await this.#fail(err);
      return;
    }
    if (this.#state !== 'opening') return;
    this.#state = 'sending';
    this.#at = offset;
    this.#unsubscribe = [
      this.#window.onOpen(() => this.#pump()),
      this.#o.outbox.onDrain(() => this.#pump()),
    ];
    this.#pump();
  }

  /** The client's `session_ack`: cumulative output bytes it has taken. */
  ack(bytes: number): void {
    this.#window.acked(bytes);
  }

  /** `idle`: ended by files.idleTimeoutS, not by its client (session_done says which). */
  async close(reason: string, idle = false): Promise<void> {
    if (this.#state === 'ended') return this.done;
    this.#state = 'ended';
    this.#stopListening();
    const sent = this.#at - this.#o.offset;
    if (!this.#reading) await this.#closeHandle();
    this.#o.logger.info(
      { request_id: this.requestId, path: this.#o.path, bytes: Math.max(sent, 0), reason },
      'file download interrupted',
    );
    this.#o.replies.emit('session_done', {
      exit_code: null,
      closed: !idle,
      idle,
      bytes: Math.max(sent, 0),
    });
    this.#resolveDone();
  }

  #pump(): void {
    if (this.#reading || this.#state !== 'sending') return;
    if (!this.#window.open || this.#o.outbox.isBackedUp()) return;
    if (this.#at >= this.#size) {
      void this.#finish();
      return;
    }
    this.#reading = true;
    void this.#readChunk().then(
      () => {
        this.#reading = false;
        if (this.#state === 'ended') void this.#closeHandle();
        else this.#pump();
      },
      (err: unknown) => {
        this.#reading = false;
        void this.#fail(err);
      },
    );
  }

  async #readChunk(): Promise<void> {
    const length = Math.min(FILE_CHUNK_BYTES, this.#size - this.#at);
    // A buffer of its own per chunk: the outbox keeps it until the hub has it.
    const buffer = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await (this.#handle as FileHandle).read(
        buffer,
        got,
        length - got,
        this.#at + got,
      );
      if (bytesRead === 0)
        throw new TransferError(
          ErrorCode.fileCorrupt,
          `${quote(this.#o.path)} shrank while it was read`,
        );
      got += bytesRead;
    }
    if (this.#state !== 'sending') return;
    this.#hash.update(buffer);
    this.#o.sendBytes(buffer);
    this.#window.sent(length);
    this.#at += length;
  }

  async #finish(): Promise<void> {
    this.#state = 'ended';
    this.#stopListening();
    await this.#closeHandle();
    this.#o.sendEnd();
    const done = {
      exit_code: 0,
      bytes: this.#size - this.#o.offset,
      sha256: this.#hash.digest('hex'),
    };
    this.#o.logger.info(
      { request_id: this.requestId, path: this.#o.path, size: this.#size, ...done },
      'file download done',
    );
    this.#o.replies.emit('session_done', done);
    this.#resolveDone();
  }

  async #fail(err: unknown): Promise<void> {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#stopListening();
    await this.#closeHandle();
    const refusal =
      err instanceof TransferError
        ? { code: err.code, message: err.message }
        : fsRefusal(err, quote(this.#o.path));
    this.#o.replies.fail(refusal.code, `file download failed: ${refusal.message}`);
    this.#resolveDone();
  }

  #stopListening(): void {
    for (const off of this.#unsubscribe) off();
    this.#unsubscribe = [];
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    await handle?.close().catch(() => undefined);
  }
}
