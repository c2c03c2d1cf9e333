import { readdir, readFile } from 'node:fs/promises';
import type { AgentContext, Feature } from '../agent/agent.js';
import { InputReport } from '../agent/session-window.js';
import type { SessionOpenRequest } from '../agent/session-kinds.js';
import type { ConnectionStatus } from '../agent/connection-status.js';
import { ByteFd, ByteKind } from '../protocol/byte-frame.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { Channel } from '../protocol/message.js';
import { SESSION_WINDOW_BYTES } from '../protocol/sessions.js';
import { compareVersions } from '../protocol/update-artifact.js';
import {
  UPDATE_CAPABILITY,
  UPDATE_RESULT,
  UPDATE_SESSION_KIND,
  updateOpenPayload,
  type UpdateOpenPayload,
  type UpdateResultPayload,
} from '../protocol/update-session.js';
import { verifyArtifactSignature, type TrustedKey } from '../protocol/update-signature.js';
import { LogCode } from '../log/log-codes.js';
import type { Clock } from '../time/clock.js';
import { clearState, rollBack, swapIn, type StepHook } from './binary-swap.js';
import { removeIfThere } from './durable-files.js';
import { isPartName, partPath, type InstallPaths } from './install-paths.js';
import { PartFile } from './part-file.js';
import { judgeAtStart } from './update-trial.js';
import { parseUpdateState, type UpdateState } from './update-state.js';

export interface UpdateSettings {
  enabled: boolean;
  publicKeys: readonly TrustedKey[];
  healthTimeoutS: number;
  maxStarts: number;
  maxBytes: number;
}

export interface UpdateFeatureOptions {
  settings: UpdateSettings;
  /** The running binary's files; null when there is none to replace (`denied` says why). */
  paths: InstallPaths | null;
  /** Why this install takes no updates (a .deb, not a single binary, …), or null. */
  denied: string | null;
  version: string;
  /** `process.arch` of this build. */
  arch: string;
  clock: Clock;
  /** Stops the agent as on SIGTERM and exits with the restart code (systemd starts it again). */
  requestRestart: (reason: string) => void;
  /** Tests: runs after each step of the swap. */
  afterStep?: StepHook;
}

/**
 * Most input bytes held waiting for the disk: the hub keeps at most SESSION_WINDOW_BYTES
 * unreported, so more means it ignores the window; the session is then ended.
 */
const MAX_PENDING_BYTES = 2 * SESSION_WINDOW_BYTES;

type Refusal = { code: ErrorCode; message: string };

/**
 * Agent updates (docs/protocol.md "Updating the agent"): sessions of kind `update` bring a
 * signed binary into a part file beside the running one; once it is complete and its sha256
 * matches the signed one, `swapIn` puts it in place keeping the previous, and the agent
 * restarts into it. At start, the trial left by an update is judged: the new version confirms
 * itself by coming online before the deadline, or rolls itself back; a build that cannot run
 * at all is rolled back by the update guard (systemd/iottly-agent-update-guard), and the old
 * build reports that.
 *
 * Lifecycle of one update: checks (before a byte) → receiving → verifying → swapping → done
 * (restart). At most one at a time.
 */
export class UpdateFeature implements Feature {
  readonly name = 'update';
  readonly #o: UpdateFeatureOptions;
  /** The update session in progress (request_id), if any. */
  #active: string | null = null;
  #trialTimer: ReturnType<Clock['setTimeout']> | null = null;
  #offStatus: (() => void) | null = null;
  #stopping = false;

  constructor(options: UpdateFeatureOptions) {
    this.#o = options;
  }

  capabilities(): string[] {
    return this.#denial() === null ? [UPDATE_CAPABILITY] : [];
  }

  openRequests(): string[] {
    return this.#active === null ? [] : [this.#active];
  }

  async start(context: AgentContext): Promise<void> {
    context.sessions.register(UPDATE_SESSION_KIND, {
      payload: updateOpenPayload,
      open: (payload, request) => this.#open(context, payload, request),
    });
    if (this.#o.paths !== null) await this.#judgeTrial(context, this.#o.paths);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#trialTimer !== null) this.#o.clock.clearTimeout(this.#trialTimer);
    this.#offStatus?.();
  }

  /** Why no update can be taken at all, or null. */
  #denial(): string | null {
    if (!this.#o.settings.enabled) return 'updates are disabled on this device (update.enabled)';
    if (this.#o.denied !== null) return this.#o.denied;
    if (this.#o.settings.publicKeys.length === 0)
      return 'no update.publicKeys: this device trusts no signer';
    return null;
  }

  // ---- the trial after an update --------------------------------------------------------------

  async #judgeTrial(context: AgentContext, paths: InstallPaths): Promise<void> {
    let state: UpdateState | null;
    try {
      state = parseUpdateState(await readFile(paths.state, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      context.logger.error(
        { code: LogCode.updateFailed, err },
        `cannot read the update state ${paths.state}`,
      );
      return;
    }
    const verdict = judgeAtStart(state, this.#o.version, this.#o.clock.date().getTime() / 1000);
    switch (verdict.kind) {
      case 'none':
        if (state === null) await clearState(paths); // damaged: forget it
        return;
      case 'failed': {
        context.logger.warn(
          {
            code: LogCode.updateRolledBack,
            from: verdict.state.from,
            to: verdict.state.to,
            cause: verdict.cause,
          },
          `update to ${verdict.state.to} was rolled back (${verdict.cause}); running ${this.#o.version}`,
        );
        this.#report(context, {
          version: verdict.state.to,
          from: verdict.state.from,
          ok: false,
          cause: verdict.cause,
          message: verdict.message,
        });
        await clearState(paths);
        return;
      }
      case 'trial':
        this.#watchTrial(context, paths, verdict.state, verdict.remainingS);
        return;
    }
  }

  /** This build is on trial: online before the deadline keeps it, otherwise the previous returns. */
  #watchTrial(
    context: AgentContext,
    paths: InstallPaths,
    state: UpdateState,
    remainingS: number,
  ): void {
    context.logger.info(
      { from: state.from, to: state.to, remainingS },
      `update to ${state.to} on trial: it must come online within ${remainingS} s`,
    );
    const onStatus = (status: ConnectionStatus): void => {
      if (status.kind !== 'online' || this.#trialTimer === null) return;
      this.#o.clock.clearTimeout(this.#trialTimer);
      this.#trialTimer = null;
      this.#offStatus?.();
      void this.#confirm(context, paths, state);
    };
    this.#trialTimer = this.#o.clock.setTimeout(() => {
      this.#trialTimer = null;
      this.#offStatus?.();
      void this.#rollBack(context, paths, state);
    }, remainingS * 1000);
    this.#offStatus = context.onStatus(onStatus);
    onStatus(context.status());
  }

  async #confirm(context: AgentContext, paths: InstallPaths, state: UpdateState): Promise<void> {
    try {
      await clearState(paths);
    } catch (err) {
      context.logger.error({ code: LogCode.updateFailed, err }, 'cannot clear the update state');
    }
    context.logger.info(
      { code: LogCode.updateConfirmed, from: state.from, to: state.to },
      `update from ${state.from} to ${state.to} confirmed: online`,
    );
    this.#report(context, { version: state.to, from: state.from, ok: true });
  }

  async #rollBack(context: AgentContext, paths: InstallPaths, state: UpdateState): Promise<void> {
    if (this.#stopping) return;
    context.logger.error(
      { code: LogCode.updateRolledBack, from: state.from, to: state.to, cause: 'not_online' },
      `update to ${state.to} did not come online within update.healthTimeoutS: restoring ${state.from}`,
    );
    try {
      await rollBack(paths, state, 'not_online');
    } catch (err) {
      context.logger.error(
        { code: LogCode.updateFailed, err },
        'rollback failed; the guard will retry at the next start',
      );
    }
    this.#o.requestRestart(`rolled back to ${state.from}`);
  }

  #report(context: AgentContext, result: UpdateResultPayload): void {
    context.emit(UPDATE_RESULT, Channel.status, { ...result });
  }

  // ---- an update session ----------------------------------------------------------------------

  #refusal(payload: UpdateOpenPayload): Refusal | null {
    const denial = this.#denial();
    if (denial !== null) return { code: ErrorCode.updateDenied, message: denial };
    if (this.#active !== null || this.#stopping)
      return { code: ErrorCode.busy, message: 'an update is already in progress' };
    const { signature } = payload;
    const check = verifyArtifactSignature(signature, this.#o.settings.publicKeys);
    if (!check.ok) return { code: ErrorCode.updateBadSignature, message: check.message };
    for (const field of ['version', 'arch', 'size', 'sha256'] as const)
      if (payload[field] !== signature[field])
        return {
          code: ErrorCode.updateBadSignature,
          message: `the request's ${field} is not the signed one`,
        };
    if (payload.arch !== this.#o.arch)
      return {
        code: ErrorCode.updateWrongArch,
        message: `the artifact is for ${payload.arch}; this agent is ${this.#o.arch}`,
      };
    if (compareVersions(payload.version, this.#o.version) <= 0 && payload.downgrade !== true)
      return {
        code: ErrorCode.updateNotNewer,
        message: `${payload.version} is not newer than the running ${this.#o.version} (downgrade: true allows it)`,
      };
    if (payload.size > this.#o.settings.maxBytes)
      return {
        code: ErrorCode.updateTooLarge,
        message: `${payload.size} bytes, over update.maxBytes (${this.#o.settings.maxBytes})`,
      };
    return null;
  }

  #open(context: AgentContext, payload: UpdateOpenPayload, request: SessionOpenRequest): void {
    const { requestId, requestedBy } = request;
    const refusal = this.#refusal(payload);
    if (refusal) {
      context.logger.warn(
        {
          code: refusal.code,
          request_id: requestId,
          requested_by: requestedBy,
          version: payload.version,
        },
        refusal.message,
      );
      context.emit('error', Channel.errors, { ...refusal }, requestId);
      return;
    }
    this.#active = requestId;
    context.logger.info(
      {
        request_id: requestId,
        requested_by: requestedBy,
        version: payload.version,
        size: payload.size,
        sha256: payload.sha256,
        key_id: payload.signature.key_id,
      },
      `update to ${payload.version} requested`,
    );
    void this.#receive(context, payload, request, this.#o.paths as InstallPaths)
      .catch((err: unknown) => {
        // Nothing of an update may take the agent down: the session fails, the binary stays.
        context.logger.error(
          { code: LogCode.updateFailed, err, request_id: requestId },
          'update failed',
        );
        context.emit(
          'error',
          Channel.errors,
          {
            code: ErrorCode.internalError,
            message: `update failed: ${(err as Error)?.message ?? String(err)}`,
          },
          requestId,
        );
      })
      .finally(() => {
        this.#active = null;
      });
  }

  async #receive(
    context: AgentContext,
    payload: UpdateOpenPayload,
    request: SessionOpenRequest,
    paths: InstallPaths,
  ): Promise<void> {
    const { requestId, stream } = request;
    const reply = (type: string, body: Record<string, unknown>): void =>
      context.emit(type, type === 'error' ? Channel.errors : Channel.commands, body, requestId);
    const fail = (code: ErrorCode, message: string): void => {
      context.logger.warn({ code, request_id: requestId, version: payload.version }, message);
      reply('error', { code, message });
    };
    let part: PartFile;
    try {
      await removeOtherParts(paths, partPath(paths, payload.sha256));
      part = await PartFile.open(partPath(paths, payload.sha256), payload.size);
    } catch (err) {
      fail(
        ErrorCode.updateDenied,
        `cannot write beside ${paths.binary}: ${(err as Error).message}`,
      );
      return;
    }
    const report = new InputReport((bytes) => reply('input_consumed', { bytes }));
    let ended: (
      outcome: 'complete' | 'closed' | { code: ErrorCode; message: string },
    ) => void = () => {};
    const outcome = new Promise<'complete' | 'closed' | { code: ErrorCode; message: string }>(
      (resolve) => (ended = resolve),
    );
    let writing: Promise<void> = Promise.resolve();
    let over = false;
    const end = (result: Parameters<typeof ended>[0]): void => {
      if (over) return;
      over = true;
      ended(result);
    };
    const input = (bytes: Buffer): void => {
      if (over || closing) return;
      if (report.pending + bytes.length > MAX_PENDING_BYTES) {
        end({
          code: ErrorCode.updateCorrupt,
          message: `more than ${MAX_PENDING_BYTES} bytes sent ahead of input_consumed`,
        });
        return;
      }
      report.received(bytes.length);
      writing = writing.then(async () => {
        if (over) return;
        try {
          await part.append(bytes);
        } catch (err) {
          end(
            err instanceof RangeError
              ? { code: ErrorCode.updateCorrupt, message: err.message }
              : {
                  code: ErrorCode.updateDenied,
                  message: `cannot write ${part.path}: ${(err as Error).message}`,
                },
          );
          return;
        }
        report.taken(bytes.length);
        if (part.length === part.size) end('complete');
      });
    };
    const eof = (): void => {
      void writing.then(() => {
        if (part.length < part.size)
          end({
            code: ErrorCode.updateCorrupt,
            message: `truncated: ${part.length} of ${part.size} bytes, then the end of input`,
          });
      });
    };
    // A close keeps what arrived before it: the writes queued so far finish first.
    let closing = false;
    const close = (): void => {
      closing = true;
      void writing.then(() => end('closed'));
    };
    const untrack = context.sessions.track(requestId, { input, close });
    const closeStream =
      stream === null
        ? () => {}
        : context.router.openStream(stream, (frame) => {
            if (frame.fd !== ByteFd.stdin) return;
            if (frame.kind === ByteKind.eof) eof();
            else input(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.length));
          });
    reply('session_opened', { offset: part.offset });
    if (part.offset === part.size) end('complete'); // all there from an earlier session
    const result = await outcome;
    untrack();
    closeStream();
    await writing;
    if (result === 'closed') {
      await part.close().catch(() => {});
      context.logger.info(
        { request_id: requestId, bytes: part.length, size: part.size },
        'update session closed; the part is kept for a resume',
      );
      reply('session_done', { exit_code: null, closed: true, bytes: part.length - part.offset });
      return;
    }
    if (result !== 'complete') {
      await (result.code === ErrorCode.updateCorrupt ? part.discard() : part.close()).catch(
        () => {},
      );
      fail(result.code, result.message);
      return;
    }
    await this.#install(context, payload, part, paths, { reply, fail, requestId });
  }

  async #install(
    context: AgentContext,
    payload: UpdateOpenPayload,
    part: PartFile,
    paths: InstallPaths,
    session: {
      reply: (type: string, body: Record<string, unknown>) => void;
      fail: (code: ErrorCode, message: string) => void;
      requestId: string;
    },
  ): Promise<void> {
    try {
      await part.close();
      const sha256 = await part.sha256();
      if (sha256 !== payload.sha256) {
        await part.discard();
        session.fail(
          ErrorCode.updateCorrupt,
          `the bytes' sha256 is ${sha256}, not the signed ${payload.sha256}`,
        );
        return;
      }
      const nowS = Math.floor(this.#o.clock.date().getTime() / 1000);
      await swapIn(
        paths,
        part.path,
        {
          phase: 'trial',
          from: this.#o.version,
          to: payload.version,
          deadline: nowS + this.#o.settings.healthTimeoutS,
          starts: 0,
          maxStarts: this.#o.settings.maxStarts,
        },
        this.#o.afterStep,
      );
    } catch (err) {
      context.logger.error(
        { code: LogCode.updateFailed, err, request_id: session.requestId },
        'update could not be installed',
      );
      session.fail(ErrorCode.updateDenied, `cannot install: ${(err as Error).message}`);
      return;
    }
    context.logger.info(
      {
        code: LogCode.updateInstalled,
        request_id: session.requestId,
        from: this.#o.version,
        to: payload.version,
        sha256: payload.sha256,
      },
      `update to ${payload.version} installed; restarting into it`,
    );
    // No other update until the restart: this process no longer runs the installed binary.
    this.#stopping = true;
    session.reply('session_done', { exit_code: 0, bytes: payload.size, sha256: payload.sha256 });
    this.#o.requestRestart(`updated to ${payload.version}`);
  }
}

/** An abandoned update's part file (another artifact) is removed when a new one starts. */
async function removeOtherParts(paths: InstallPaths, keep: string): Promise<void> {
  for (const name of await readdir(paths.dir)) {
    const path = `${paths.dir}/${name}`;
    if (isPartName(paths, name) && path !== keep) await removeIfThere(path);
  }
}
