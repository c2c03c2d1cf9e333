import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Logger } from 'pino';
import { InputReport } from '../agent/session-window.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { devicePartName, type FilePutPayload } from '../protocol/file-sessions.js';
import { SESSION_WINDOW_BYTES } from '../protocol/sessions.js';
import { hashPrefix } from './hash-range.js';
import { fsRefusal, NO_FOLLOW, quote, type PathPolicy, type ResolvedPath } from './path-policy.js';
import { TransferError, type TransferReplies } from './transfer-end.js';

/**
 * One upload (`file_put`) from `session_open` to its end. Bytes go to a temporary file beside
 * the target (`.<name>.<sha16>.iottly-part`); one already there is continued (its length is
 * the `offset` in `session_opened`, its bytes are hashed first). When `size` bytes have come the
 * whole file's sha256 is checked, then fsync, mode and owner, rename over the target and fsync
 * of the directory: the target is either the old file or the whole new one, never a piece.
 *
 * State: opening → receiving → finishing → ended. Input is written in arrival order, one write
 * at a time; the client keeps at most SESSION_WINDOW_BYTES unreported (input_consumed), so the
 * queue holds at most that, and a client that sends more is refused (input_overflow).
 * Interrupted (session_close, agent shutdown) the part is fsync'd and kept for a resume.
 */
export interface FilePutOptions {
  requestId: string;
  payload: FilePutPayload;
  resolved: ResolvedPath;
  policy: PathPolicy;
  /** The new file's permission bits. */
  mode: number;
  /** uid/gid to give the part and the file (only when the agent may chown), or null. */
  owner: { uid: number; gid: number } | null;
  replies: TransferReplies;
  /** Emits `input_consumed` {bytes}. */
  consumed(bytes: number): void;
  logger: Logger;
}

type State = 'opening' | 'receiving' | 'finishing' | 'ended';

/** Input the agent holds beyond the window before it calls the client misbehaving. */
const QUEUE_LIMIT_BYTES = SESSION_WINDOW_BYTES * 2;

export class FilePut {
  readonly requestId: string;
  /** The temporary file's path (one upload per part at a time). */
  readonly partPath: string;
  /** Settles once the transfer has ended, whichever way. */
  readonly done: Promise<void>;
  readonly #o: FilePutOptions;
  readonly #hash: Hash = createHash('sha256');
  readonly #report: InputReport;
  #state: State = 'opening';
  #handle: FileHandle | null = null;
  #offset = 0;
  /** Bytes written to the part in this session. */
  #written = 0;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  #writing: Promise<void> | null = null;
  #inputEnded = false;
  #resolveDone!: () => void;

  constructor(options: FilePutOptions) {
    this.#o = options;
    this.requestId = options.requestId;
    const { dir, name } = options.resolved;
    this.partPath = posix.join(dir, devicePartName(name, options.payload.sha256));
    this.#report = new InputReport((bytes: number) => options.consumed(bytes));
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  get #size(): number {
    return this.#o.payload.size;
  }

  /** Opens (or continues) the part and says `session_opened` with the offset. */
  async start(): Promise<void> {
    try {
      await this.#openPart();
    } catch (err) {
      await this.#fail(err, { keepPart: true });
      return;
    }
    if (this.#state !== 'opening') {
      await this.#closeHandle(true); // closed while it opened
      return;
    }
    this.#state = 'receiving';
    this.#o.replies.emit('session_opened', { offset: this.#offset });
    if (this.#offset === this.#size) await this.#finish();
  }

  /** Input bytes (a binary frame's data or a decoded `session_input`). */
  input(bytes: Buffer): void {
    if (this.#state === 'opening' && bytes.length > 0)
      // Where they belong depends on the offset session_opened will give: a hole otherwise.
      return void this.#failLater(
        ErrorCode.invalidPayload,
        'input before session_opened (its offset says where the bytes start)',
      );
    if (this.#state !== 'receiving' || bytes.length === 0) return;
    if (this.#inputEnded)
      return void this.#failLater(ErrorCode.invalidPayload, 'input after its end');
    if (this.#offset + this.#written + this.#queued + bytes.length > this.#size)
      return void this.#failLater(
        ErrorCode.invalidPayload,
        `more input than the ${this.#size} bytes the upload declared`,
      );
    if (this.#queued + bytes.length > QUEUE_LIMIT_BYTES)
      return void this.#failLater(
        ErrorCode.inputOverflow,
        `${this.#queued + bytes.length} input bytes not yet written: the client ignored input_consumed`,
      );
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.#report.received(bytes.length);
    this.#pump();
  }

  /** The client's eof: every byte was sent. */
  endInput(): void {
    this.#inputEnded = true;
    this.#pump();
  }

  /** session_close, the client gone, agent shutdown: keep what came for a resume. */
  /** `idle`: ended by files.idleTimeoutS, not by its client (session_done says which). */
  async close(reason: string, idle = false): Promise<void> {
    if (this.#state === 'ended' || this.#state === 'finishing') return this.done;
    this.#state = 'ended';
    this.#queue.length = 0;
    this.#queued = 0;
    await this.#writing;
    await this.#closeHandle(true);
    this.#o.logger.info(
      { request_id: this.requestId, path: this.#o.payload.path, bytes: this.#written, reason },
      'file upload interrupted: part kept for a resume',
    );
    this.#o.replies.emit('session_done', {
      exit_code: null,
      closed: !idle,
      idle,
      bytes: this.#written,
    });
    this.#resolveDone();
  }

  async #openPart(): Promise<void> {
    const flags = constants.O_RDWR | constants.O_CREAT | NO_FOLLOW;
    const handle = await open(this.partPath, flags, 0o600);
    this.#handle = handle;
    const st = await handle.stat();
    if (!st.isFile() || !(await this.#o.policy.verifyOpened(handle.fd, this.partPath, st)))
      throw new TransferError(
        ErrorCode.fileDenied,
        `${quote(this.partPath)} changed while it was opened (not a regular file in files.allowPaths)`,
      );
    if (this.#o.owner) await handle.chown(this.#o.owner.uid, this.#o.owner.gid);
    this.#offset = st.size;
    if (this.#offset > this.#size) {
      // Same name, other content (a 16-hex prefix collision, or a changed size): start over.
      await handle.truncate(0);
      this.#offset = 0;
    }
    if (!(await hashPrefix(handle, this.#hash, this.#offset)))
      throw new TransferError(ErrorCode.internalError, 'the part shrank while it was hashed');
    if (this.#offset > 0)
      this.#o.logger.info(
        { request_id: this.requestId, path: this.#o.payload.path, offset: this.#offset },
        'file upload resumes from its part',
      );
  }

  #pump(): void {
    if (this.#writing || this.#state !== 'receiving') return;
    const next = this.#queue.shift();
    if (next === undefined) {
      this.#report.flush();
      if (this.#inputEnded && this.#offset + this.#written < this.#size)
        void this.#fail(
          new TransferError(
            ErrorCode.invalidPayload,
            `input ended after ${this.#offset + this.#written} of ${this.#size} bytes (the part is kept for a resume)`,
          ),
          { keepPart: true },
        );
      return;
    }
    this.#queued -= next.length;
    this.#writing = this.#write(next).then(
      () => {
        this.#writing = null;
        if (this.#state !== 'receiving') return;
        if (this.#offset + this.#written === this.#size && this.#queue.length === 0) {
          this.#report.flush();
          void this.#finish();
        } else this.#pump();
      },
      (err: unknown) => {
        this.#writing = null;
        void this.#fail(err, { keepPart: true });
      },
    );
  }

  async #write(bytes: Buffer): Promise<void> {
    const handle = this.#handle as FileHandle;
    let at = 0;
    while (at < bytes.length) {
      const { bytesWritten } = await handle.write(
        bytes,
        at,
        bytes.length - at,
        this.#offset + this.#written + at,
      );
      at += bytesWritten;
    }
    this.#hash.update(bytes);
    this.#written += bytes.length;
    this.#report.taken(bytes.length);
  }

  /** All bytes are in the part: verify, then put it in place. */
  async #finish(): Promise<void> {
    this.#state = 'finishing';
    const sha256 = this.#hash.digest('hex');
    const { payload, resolved } = this.#o;
    if (sha256 !== payload.sha256) {
      await this.#fail(
        new TransferError(
          ErrorCode.fileCorrupt,
          `sha256 of the ${payload.size} bytes received is ${sha256}, not the ${payload.sha256} announced: nothing written`,
        ),
        { keepPart: false },
      );
      return;
    }
    try {
      const handle = this.#handle as FileHandle;
      // chown first: it clears setuid and setgid bits, which the mode may ask for.
      if (this.#o.owner) await handle.chown(this.#o.owner.uid, this.#o.owner.gid);
      await handle.chmod(this.#o.mode);
      await handle.sync();
      await this.#closeHandle(false);
      await rename(this.partPath, resolved.target);
      await syncDirectory(resolved.dir);
    } catch (err) {
      await this.#fail(err, { keepPart: true });
      return;
    }
    this.#state = 'ended';
    const done = { exit_code: 0, bytes: this.#written, sha256 };
    this.#o.logger.info(
      { request_id: this.requestId, path: payload.path, target: resolved.target, ...done },
      'file upload done',
    );
    this.#o.replies.emit('session_done', done);
    this.#resolveDone();
  }

  #failLater(code: ErrorCode, message: string): void {
    void this.#fail(new TransferError(code, message), { keepPart: true });
  }

  async #fail(err: unknown, { keepPart }: { keepPart: boolean }): Promise<void> {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#queue.length = 0;
    this.#queued = 0;
    await this.#writing;
    await this.#closeHandle(keepPart);
    if (!keepPart) await unlink(this.partPath).catch(() => undefined);
    const refusal =
      err instanceof TransferError
        ? { code: err.code, message: err.message }
        : fsRefusal(err, quote(this.#o.payload.path));
    this.#o.replies.fail(refusal.code, `file upload failed: ${refusal.message}`);
    this.#resolveDone();
  }

  async #closeHandle(sync: boolean): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    if (!handle) return;
    if (sync) await handle.sync().catch(() => undefined);
    await handle.close().catch(() => undefined);
  }
}

/** fsync of a directory: the rename in it survives a power cut. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
