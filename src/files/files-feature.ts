import type { Logger } from 'pino';
import type { AgentContext, Feature } from '../agent/agent.js';
import type { SessionOpenRequest } from '../agent/session-kinds.js';
import { ByteFd, ByteKind } from '../protocol/byte-frame.js';
import { ErrorCode } from '../protocol/error-codes.js';
import {
  DEFAULT_FILE_MODE,
  fileGetPayload,
  filePutPayload,
  type FileGetPayload,
  type FilePutPayload,
} from '../protocol/file-sessions.js';
import { Channel } from '../protocol/message.js';
import type { Account } from './access.js';
import { FileGet } from './file-get.js';
import { FilePut } from './file-put.js';
import { PathPolicy, quote } from './path-policy.js';
import { removeStaleParts } from './stale-parts.js';
import { IdleDeadline } from '../time/idle-deadline.js';
import type { TransferReplies } from './transfer-end.js';

/**
 * File transfers (docs/protocol.md, "File transfers"): the session kinds `file_put` and
 * `file_get`. Gates, in order: `files.enabled`, the path policy (files.allowPaths, real paths,
 * no `..`, no symlink out; the run-as user's permission bits), `files.maxBytes`, one upload per
 * temporary file, MAX_TRANSFERS at once. Each refusal is an `error` frame and a log line; each
 * transfer logs its start and end with who asked (`requested_by`).
 */
export interface FilesSettings {
  enabled: boolean;
  allowPaths: readonly string[];
  maxBytes: number;
  /** Upload parts untouched this long are removed (before the next upload into their folder). */
  partMaxAgeH: number;
  /** A transfer with no byte or ack from its client this long is ended (0: never). */
  idleTimeoutS: number;
}

export interface FilesFeatureOptions {
  settings: FilesSettings;
  /** commands.user's account when commands run as another user; null: the agent's own. */
  runAs: Account | null;
  /** The agent's uid: only root may give a file to another owner. */
  agentUid: number;
  /** A user name (or number) to its uid and primary gid, null when unknown. */
  lookupUser(name: string): { uid: number; gid: number } | null;
  procSelfFd?: string;
}

/** Transfers at once; one more is refused with `busy` (each holds an fd and a chunk). */
export const MAX_TRANSFERS = 16;

type Transfer = FilePut | FileGet;

export class FilesFeature implements Feature {
  readonly name = 'files';
  readonly #o: FilesFeatureOptions;
  readonly #policy: PathPolicy;
  readonly #transfers = new Map<string, Transfer>();
  /** Uploads by their part's path: two at once would interleave their bytes. */
  readonly #parts = new Set<string>();
  /** Request ids whose open is still checking the policy (not yet in #transfers). */
  readonly #pending = new Set<string>();
  /** The placeholder follower of each pending open, and the ones closed while pending. */
  readonly #early = new Map<string, () => void>();
  readonly #closedEarly = new Set<string>();
  #stopping = false;

  constructor(options: FilesFeatureOptions) {
    this.#o = options;
    this.#policy = new PathPolicy({
      roots: options.settings.allowPaths,
      account: options.runAs,
      ...(options.procSelfFd !== undefined ? { procSelfFd: options.procSelfFd } : {}),
    });
  }

  capabilities(): string[] {
    return this.#o.settings.enabled ? ['files'] : [];
  }

  openRequests(): string[] {
    return [...this.#transfers.keys()];
  }

  start(context: AgentContext): void {
    context.sessions.register('file_put', {
      payload: filePutPayload,
      open: (payload: FilePutPayload, request: SessionOpenRequest) =>
        this.#opening(context, request, payload.path, () => this.#put(context, payload, request)),
    });
    context.sessions.register('file_get', {
      payload: fileGetPayload,
      open: (payload: FileGetPayload, request: SessionOpenRequest) =>
        this.#opening(context, request, payload.path, () => this.#get(context, payload, request)),
    });
  }

  /**
   * Runs an open (policy checks on the disk, then the transfer) with its request id held, so a
   * duplicate is refused meanwhile; whatever it throws becomes an `error` frame, never an
   * unhandled rejection that would end the agent.
   */
  #opening(
    context: AgentContext,
    request: SessionOpenRequest,
    path: string,
    open: () => Promise<void>,
  ): void {
    const replies = this.#replies(context, request, path);
    if (this.#pending.has(request.requestId) || this.#transfers.has(request.requestId)) {
      replies.fail(ErrorCode.duplicateRequest, `request ${request.requestId} is already running`);
      return;
    }
    if (this.#transfers.size + this.#pending.size >= MAX_TRANSFERS) {
      replies.fail(
        ErrorCode.busy,
        `${this.#transfers.size + this.#pending.size} file transfers are running, the most at once`,
      );
      return;
    }
    this.#pending.add(request.requestId);
    // Until the transfer tracks itself, a session_close is remembered here, not dropped.
    const early = context.sessions.track(request.requestId, {
      close: () => this.#closedEarly.add(request.requestId),
    });
    this.#early.set(request.requestId, early);
    open()
      .catch((err: unknown) =>
        replies.fail(
          ErrorCode.internalError,
          `file transfer failed: ${(err as Error)?.message ?? String(err)}`,
        ),
      )
      .finally(() => {
        this.#pending.delete(request.requestId);
        this.#closedEarly.delete(request.requestId);
        this.#early.get(request.requestId)?.();
        this.#early.delete(request.requestId);
      });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const transfers = [...this.#transfers.values()];
    await Promise.all(transfers.map((transfer) => transfer.close('agent shutdown')));
  }

  #replies(context: AgentContext, request: SessionOpenRequest, what: string): TransferReplies {
    const { requestId } = request;
    return {
      emit: (type, payload) =>
        context.emit(
          type,
          type === 'error' ? Channel.errors : Channel.commands,
          payload,
          requestId,
        ),
      fail: (code, message) => {
        context.logger.warn(
          { code, request_id: requestId, requested_by: request.requestedBy, path: what },
          message,
        );
        context.emit('error', Channel.errors, { code, message }, requestId);
      },
    };
  }

  /** The gates every transfer passes; the refusal was sent when it returns false. */
  #admit(replies: TransferReplies, request: SessionOpenRequest, context: AgentContext): boolean {
    if (!this.#o.settings.enabled) {
      replies.fail(
        ErrorCode.fileDenied,
        'file transfers are disabled on this device (files.enabled)',
      );
      return false;
    }
    if (this.#stopping) {
      replies.fail(ErrorCode.busy, 'the agent is shutting down');
      return false;
    }
    if (request.stream !== null && context.router.hasStream(request.stream)) {
      replies.fail(
        ErrorCode.invalidPayload,
        `session_open: stream ${request.stream} is already open`,
      );
      return false;
    }
    return true;
  }

  async #put(
    context: AgentContext,
    payload: FilePutPayload,
    request: SessionOpenRequest,
  ): Promise<void> {
    const replies = this.#replies(context, request, payload.path);
    if (!this.#admit(replies, request, context)) return;
    const { maxBytes } = this.#o.settings;
    if (payload.size > maxBytes) {
      replies.fail(
        ErrorCode.fileTooLarge,
        `${quote(payload.path)}: ${payload.size} bytes is over files.maxBytes (${maxBytes})`,
      );
      return;
    }
    const owner = this.#owner(payload.owner);
    if (!owner.ok) return replies.fail(owner.code, owner.message);
    const resolved = await this.#policy.resolve(payload.path, 'write');
    if (!resolved.ok) return replies.fail(resolved.code, resolved.message);
    if (this.#stopping) return replies.fail(ErrorCode.busy, 'the agent is shutting down');
    const put = new FilePut({
      requestId: request.requestId,
      payload,
      resolved,
      policy: this.#policy,
      mode: payload.mode ?? (resolved.stat ? resolved.stat.mode & 0o7777 : DEFAULT_FILE_MODE),
      owner:
        owner.value ?? (resolved.stat && this.#o.agentUid === 0 ? ownerOf(resolved.stat) : null),
      replies,
      consumed: (bytes) =>
        context.emit('input_consumed', Channel.commands, { bytes }, request.requestId),
      logger: context.logger,
    });
    if (this.#parts.has(put.partPath)) {
      replies.fail(
        ErrorCode.busy,
        `an upload to ${quote(payload.path)} of the same content is running`,
      );
      return;
    }
    // Tracked first: a session_close from now on reaches it (it ends before it opens).
    const untrack = this.#track(context, request, put, {
      input: (bytes) => put.input(bytes),
      end: () => put.endInput(),
    });
    this.#parts.add(put.partPath);
    void put.done.finally(() => {
      untrack();
      this.#parts.delete(put.partPath);
    });
    context.logger.info(
      {
        request_id: request.requestId,
        requested_by: request.requestedBy,
        path: payload.path,
        size: payload.size,
      },
      'file upload started',
    );
    const stale = await removeStaleParts(
      resolved.dir,
      this.#o.settings.partMaxAgeH * 3_600_000,
      context.clock.date().getTime(),
      this.#parts,
    );
    if (stale.length > 0)
      context.logger.info(
        { removed: stale, partMaxAgeH: this.#o.settings.partMaxAgeH },
        'stale upload parts removed',
      );
    await put.start();
  }

  async #get(
    context: AgentContext,
    payload: FileGetPayload,
    request: SessionOpenRequest,
  ): Promise<void> {
    const replies = this.#replies(context, request, payload.path);
    if (!this.#admit(replies, request, context)) return;
    const resolved = await this.#policy.resolve(payload.path, 'read');
    if (!resolved.ok) return replies.fail(resolved.code, resolved.message);
    if (this.#stopping) return replies.fail(ErrorCode.busy, 'the agent is shutting down');
    const { stream } = request;
    const get: FileGet = new FileGet({
      requestId: request.requestId,
      path: payload.path,
      offset: payload.offset ?? 0,
      resolved,
      policy: this.#policy,
      maxBytes: this.#o.settings.maxBytes,
      outbox: context.outbox,
      sendBytes:
        stream === null
          ? (bytes) => replies.emit('session_output', { data: bytes.toString('base64') })
          : (bytes) =>
              context.emitBytes({ kind: ByteKind.data, stream, fd: ByteFd.stdout, data: bytes }),
      sendEnd: () => {
        if (stream !== null)
          context.emitBytes({
            kind: ByteKind.eof,
            stream,
            fd: ByteFd.stdout,
            data: new Uint8Array(0),
          });
      },
      replies,
      logger: context.logger,
    });
    const untrack = this.#track(context, request, get, {});
    context.logger.info(
      {
        request_id: request.requestId,
        requested_by: request.requestedBy,
        path: payload.path,
        offset: payload.offset ?? 0,
      },
      'file download started',
    );
    void get.done.finally(untrack);
    await get.start();
  }

  /** Registers the transfer's follow-ups and its input stream; returns what undoes both. */
  #track(
    context: AgentContext,
    request: SessionOpenRequest,
    transfer: Transfer,
    input: { input?: (bytes: Buffer) => void; end?: () => void },
  ): () => void {
    const { requestId, stream } = request;
    this.#early.get(requestId)?.();
    this.#early.delete(requestId);
    this.#transfers.set(requestId, transfer);
    if (this.#closedEarly.delete(requestId))
      queueMicrotask(() => void transfer.close('closed by its client'));
    // A client that stops (frozen, or its close lost with a hub) would hold the transfer's slot
    // and its part for good: no byte and no ack for files.idleTimeoutS ends it, part kept.
    const { idleTimeoutS } = this.#o.settings;
    const idle = new IdleDeadline(
      context.clock,
      idleTimeoutS * 1000,
      () => void transfer.close(`no byte or ack from its client for ${idleTimeoutS} s`, true),
    );
    idle.start();
    const untrack = context.sessions.track(requestId, {
      ...(input.input
        ? {
            input: (bytes: Buffer) => {
              idle.touch();
              input.input?.(bytes);
            },
          }
        : {}),
      ack: (bytes) => {
        idle.touch();
        if (transfer instanceof FileGet) transfer.ack(bytes);
      },
      close: () => void transfer.close('closed by its client'),
    });
    const closeStream =
      stream === null
        ? null
        : context.router.openStream(stream, (frame) => {
            if (frame.fd !== ByteFd.stdin) return;
            idle.touch();
            if (frame.kind === ByteKind.eof) input.end?.();
            else
              input.input?.(
                Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.length),
              );
          });
    return () => {
      idle.stop();
      untrack();
      closeStream?.();
      if (this.#transfers.get(requestId) === transfer) this.#transfers.delete(requestId);
    };
  }

  /** Who the new file belongs to: the run-as user, or `owner` when the agent may give files. */
  #owner(
    name: string | undefined,
  ):
    | { ok: true; value: { uid: number; gid: number } | null }
    | { ok: false; code: ErrorCode; message: string } {
    const { runAs, agentUid } = this.#o;
    if (runAs !== null) {
      const own = { uid: runAs.uid, gid: runAs.gid };
      if (name === undefined) return { ok: true, value: own };
      const asked = this.#o.lookupUser(name);
      if (asked === null || asked.uid !== runAs.uid)
        return {
          ok: false,
          code: ErrorCode.fileDenied,
          message: `owner ${JSON.stringify(name)}: files belong to the user commands run as (uid ${runAs.uid})`,
        };
      return { ok: true, value: own };
    }
    if (name === undefined || agentUid !== 0) return { ok: true, value: null };
    const user = this.#o.lookupUser(name);
    if (user === null)
      return {
        ok: false,
        code: ErrorCode.invalidPayload,
        message: `owner ${JSON.stringify(name)}: no such user`,
      };
    return { ok: true, value: user };
  }
}

function ownerOf(stat: { uid: number; gid: number }): { uid: number; gid: number } {
  return { uid: stat.uid, gid: stat.gid };
}

export type { Logger };
