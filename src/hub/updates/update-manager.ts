import type { FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { CloseCode } from '../../protocol/close-codes.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { LogCode } from '../../log/log-codes.js';
import type { Message } from '../../protocol/message.js';
import type { FrameError, ParsedFrame } from '../../protocol/parse.js';
import type { HelloPayload } from '../../protocol/to-hub.js';
import {
  FINAL_UPDATE_STATES,
  type UpdateStateName,
  type UpdateStateView,
} from '../../protocol/updates.js';
import type { UpdateResultPayload } from '../../protocol/update-session.js';
import type { UpdateRequestPayload } from '../../protocol/update-request.js';
import { isoNow, type Clock, type TimerHandle } from '../../time/clock.js';
import type { DeviceRecord } from '../device-registry.js';
import type { ClientEvents } from '../links.js';
import { ArtifactSender } from './artifact-sender.js';
import type { Artifact, ArtifactStore } from './artifact-store.js';
import { UpdateClientLink } from './update-client-link.js';

/**
 * Asks devices to update their agent and follows each to its end. An update request names a
 * version and which devices (a list, an architecture, or all); each device gets a job:
 *
 *     pending ─(online, a slot free)─▶ downloading ─(all bytes taken)─▶ installing
 *        ▲                                  │                               │ session_done 0
 *        └──(link lost, busy: retried)──────┘                               ▼
 *                                       failed ◀─(error)──────────── restarting
 *                                                                     │ hello / update_result
 *                                                                     ▼
 *                                                           done | rolled_back | failed
 *
 * A job opens `session_open` {kind: "update", …} to the device through the broker as an
 * in-process client (UpdateClientLink), so the session has a shell session's guarantees (route
 * grace, held input, one `session_done`), and streams the artifact from disk (ArtifactSender)
 * under the session window, from the offset the device already has. At most `concurrency`
 * devices download at once; a device that is offline stays pending until its next `hello`.
 * The end comes from the device: its `hello` after the restart (agent_version) and its
 * `update_result` (done, or rolled back with the cause).
 */
export interface UpdateManagerOptions {
  broker: ClientEvents;
  store: ArtifactStore;
  devices: {
    record(deviceId: string): DeviceRecord | undefined;
    records(): DeviceRecord[];
    online(deviceId: string): boolean;
  };
  clock: Clock;
  logger: Logger;
  /** Devices downloading (or installing) at once. */
  concurrency: number;
  /** Input bytes in flight beyond the device's `input_consumed` (SESSION_WINDOW_BYTES). */
  window: number;
  /** Hears every state change (and download progress, at most once a `progressMs`). */
  onState: (view: UpdateStateView) => void;
  progressMs?: number;
  /** How long a device busy or refusing for a passing reason waits before the next try. */
  retryMs?: number;
  /** Tries per job before it fails for good (link lost, busy). */
  maxAttempts?: number;
}

export const UPDATE_CLIENT_ID = 'update-manager';
export const DEFAULT_UPDATE_CONCURRENCY = 4;
export const DEFAULT_PROGRESS_MS = 1000;
export const DEFAULT_RETRY_MS = 10_000;
export const DEFAULT_MAX_ATTEMPTS = 5;

export type UpdateRequested =
  | { ok: true; version: string; devices: UpdateStateView[] }
  | { ok: false; error: FrameError; status: number };

interface Job {
  deviceId: string;
  version: string;
  arch: string;
  downgrade: boolean;
  state: UpdateStateName;
  bytes: number;
  size: number;
  cause: string | null;
  code: string | null;
  updatedAt: string;
  attempts: number;
  requestId: string | null;
  sender: ArtifactSender | null;
  file: FileHandle | null;
  stopListening: (() => void) | null;
  lastProgressAt: number;
  retryTimer: TimerHandle | null;
}

export class UpdateManager {
  readonly #o: UpdateManagerOptions;
  readonly #link: UpdateClientLink;
  readonly #jobs = new Map<string, Job>();
  #nextId = 1;
  #nextStream = 1;
  #closed = false;

  constructor(options: UpdateManagerOptions) {
    this.#o = options;
    this.#link = new UpdateClientLink({
      id: UPDATE_CLIENT_ID,
      events: options.broker,
      logger: options.logger,
    });
  }

  /** Every device's last update (running or ended), by device id. */
  state(deviceId: string): UpdateStateView | null {
    const job = this.#jobs.get(deviceId);
    return job ? view(job) : null;
  }

  states(): UpdateStateView[] {
    return [...this.#jobs.values()]
      .map(view)
      .sort((a, b) => a.device_id.localeCompare(b.device_id));
  }

  /**
   * Starts an update of the devices `request` names to `request.version`. A device whose update
   * is still running is refused (409 as a whole: nothing is started), so two requests never race
   * on one device.
   */
  request(request: UpdateRequestPayload): UpdateRequested {
    const refuse = (status: number, code: ErrorCode, message: string): UpdateRequested => ({
      ok: false,
      status,
      error: { code, message, type: 'update_request' },
    });
    const selectors = [
      request.devices !== undefined,
      request.arch !== undefined,
      request.all === true,
    ];
    if (selectors.filter(Boolean).length !== 1)
      return refuse(
        400,
        ErrorCode.invalidPayload,
        'update_request: name the devices with exactly one of devices: [ids], arch or all: true',
      );
    const arches = new Set(
      this.#o.store
        .list()
        .filter((a) => a.version === request.version)
        .map((a) => a.arch),
    );
    if (arches.size === 0)
      return refuse(
        404,
        ErrorCode.notFound,
        `the hub holds no artifact of version "${request.version}"`,
      );
    let targets: string[];
    if (request.devices !== undefined) {
      targets = [...new Set(request.devices)];
      const unknown = targets.find((id) => this.#o.devices.record(id) === undefined);
      if (unknown !== undefined)
        return refuse(404, ErrorCode.unknownDevice, `unknown device "${unknown}"`);
    } else if (request.arch !== undefined) {
      if (!arches.has(request.arch))
        return refuse(
          404,
          ErrorCode.notFound,
          `the hub holds no artifact of version "${request.version}" for arch "${request.arch}"`,
        );
      targets = this.#o.devices
        .records()
        .filter((r) => r.arch === request.arch)
        .map((r) => r.device_id);
    } else targets = this.#o.devices.records().map((r) => r.device_id);
    if (targets.length === 0)
      return refuse(404, ErrorCode.unknownDevice, 'no device matches the request');
    const busy = targets.find((id) => {
      const job = this.#jobs.get(id);
      return job !== undefined && !FINAL_UPDATE_STATES.has(job.state);
    });
    if (busy !== undefined)
      return refuse(
        409,
        ErrorCode.deviceBusy,
        `device "${busy}" is updating already (${this.#jobs.get(busy)?.state}); wait for its end`,
      );
    const views: UpdateStateView[] = [];
    for (const deviceId of targets) {
      const arch = this.#o.devices.record(deviceId)?.arch ?? '';
      const job: Job = {
        deviceId,
        version: request.version,
        arch,
        downgrade: request.downgrade === true,
        state: 'pending',
        bytes: 0,
        size: this.#o.store.get(request.version, arch)?.size ?? 0,
        cause: null,
        code: null,
        updatedAt: isoNow(this.#o.clock),
        attempts: 0,
        requestId: null,
        sender: null,
        file: null,
        stopListening: null,
        lastProgressAt: 0,
        retryTimer: null,
      };
      this.#jobs.set(deviceId, job);
      this.#o.logger.info(
        { deviceId, version: job.version, arch, downgrade: job.downgrade },
        'agent update requested',
      );
      this.#emit(job);
      views.push(view(job));
    }
    this.#schedule();
    return { ok: true, version: request.version, devices: views };
  }

  /** A device said hello: a pending job may start, a restarting one has its answer. */
  deviceReady(deviceId: string, hello: HelloPayload): void {
    const job = this.#jobs.get(deviceId);
    if (!job) return;
    if (job.state === 'restarting') {
      if (hello.agent_version === job.version) this.#finish(job, 'done', null, null);
      else
        this.#finish(
          job,
          'rolled_back',
          null,
          `the device came back running ${hello.agent_version}, not ${job.version}`,
        );
      return;
    }
    if (job.state === 'pending') this.#schedule();
  }

  /**
   * The device's own report after its restart. It wins over what the hub concluded from the
   * `hello` (the cause of a rollback is the device's to tell).
   */
  deviceResult(deviceId: string, result: UpdateResultPayload): void {
    const job = this.#jobs.get(deviceId);
    if (!job || job.version !== result.version) {
      this.#o.logger.info({ deviceId, ...result }, 'update result for no update of this hub');
      return;
    }
    if (job.state !== 'restarting' && !FINAL_UPDATE_STATES.has(job.state)) return;
    if (result.ok) this.#finish(job, 'done', null, null);
    else
      this.#finish(
        job,
        'rolled_back',
        result.cause ?? LogCode.updateRolledBack,
        result.message ?? `rolled back to ${result.from} (${result.cause ?? 'no cause given'})`,
      );
  }

  /**
   * The hub is stopping: running sessions are closed on their devices (as a departing client's
   * are; each device keeps its part file for a resume).
   */
  close(): void {
    this.#closed = true;
    for (const job of this.#jobs.values()) {
      if (job.retryTimer) this.#o.clock.clearTimeout(job.retryTimer);
      this.#release(job);
    }
    this.#o.broker.clientClosed(this.#link, CloseCode.goingAway, 'hub stopping');
  }

  #schedule(): void {
    if (this.#closed) return;
    let running = [...this.#jobs.values()].filter(
      (j) => j.state === 'downloading' || j.state === 'installing',
    ).length;
    for (const job of this.#jobs.values()) {
      if (running >= this.#o.concurrency) return;
      if (job.state !== 'pending' || job.requestId !== null || job.retryTimer !== null) continue;
      if (!this.#o.devices.online(job.deviceId)) continue;
      if (this.#start(job)) running++;
    }
  }

  /** Opens the job's session; true when it went on to the device. */
  #start(job: Job): boolean {
    const record = this.#o.devices.record(job.deviceId);
    if (record?.arch) job.arch = record.arch;
    const artifact = this.#o.store.get(job.version, job.arch);
    if (!artifact) {
      this.#finish(
        job,
        'failed',
        ErrorCode.notFound,
        `the hub holds no artifact of version "${job.version}" for arch "${job.arch || 'unknown'}"`,
      );
      return false;
    }
    if (record?.agent_version === job.version) {
      this.#finish(job, 'done', null, `already runs ${job.version}`);
      return false;
    }
    job.size = artifact.size;
    job.attempts++;
    const id = `upd_${job.deviceId}_${this.#nextId++}`;
    const stream = this.#nextStream;
    this.#nextStream = this.#nextStream >= 0xffff_fffe ? 1 : this.#nextStream + 1;
    job.requestId = id;
    job.stopListening = this.#link.listen(id, (message) =>
      this.#reply(job, artifact, stream, message),
    );
    const refusal = this.#link.submit(openFrame(id, job, artifact, stream));
    if (refusal === null) {
      this.#set(job, 'downloading');
      return true;
    }
    this.#release(job);
    this.#retryOrFail(job, refusal.code, refusal.message);
    return false;
  }

  #reply(job: Job, artifact: Artifact, stream: number, message: Message): void {
    const { payload } = message;
    switch (message.type) {
      case 'session_opened': {
        const offset = typeof payload.offset === 'number' ? payload.offset : 0;
        if (!Number.isSafeInteger(offset) || offset < 0 || offset > artifact.size) {
          this.#closeSession(job);
          this.#finish(
            job,
            'failed',
            ErrorCode.invalidPayload,
            `the device asked to resume at ${String(payload.offset)}`,
          );
          return;
        }
        void this.#send(job, artifact, stream, offset);
        return;
      }
      case 'input_consumed': {
        const sender = job.sender;
        if (!sender || typeof payload.bytes !== 'number') return;
        sender.consumed(payload.bytes);
        job.bytes = sender.deviceBytes;
        if (sender.allConsumed && job.state === 'downloading') this.#set(job, 'installing');
        else this.#progress(job);
        return;
      }
      case 'error': {
        const code = typeof payload.code === 'string' ? payload.code : ErrorCode.internalError;
        const text = typeof payload.message === 'string' ? payload.message : 'the update failed';
        job.code = code;
        job.cause = text;
        return;
      }
      case 'session_done': {
        const code = job.code;
        const cause = job.cause;
        this.#release(job);
        if (payload.exit_code === 0) {
          job.bytes = job.size;
          job.code = null;
          job.cause = null;
          this.#set(job, 'restarting');
        } else
          this.#retryOrFail(job, code ?? LogCode.updateFailed, cause ?? 'the update session ended');
        this.#schedule();
        return;
      }
    }
  }

  async #send(job: Job, artifact: Artifact, stream: number, offset: number): Promise<void> {
    let file: FileHandle;
    try {
      file = await this.#o.store.open(artifact);
    } catch (err) {
      this.#closeSession(job);
      this.#finish(
        job,
        'failed',
        ErrorCode.internalError,
        `cannot read the artifact: ${(err as Error).message}`,
      );
      return;
    }
    if (job.requestId === null) {
      await file.close();
      return;
    }
    job.file = file;
    job.bytes = offset;
    job.sender = new ArtifactSender({
      file,
      size: artifact.size,
      stream,
      window: this.#o.window,
      send: (frame) => this.#link.sendInput(frame),
      paused: () => this.#link.paused,
      whenResumed: (resume) => this.#link.whenResumed(resume),
      onError: (err) => {
        this.#closeSession(job);
        this.#finish(
          job,
          'failed',
          ErrorCode.internalError,
          `cannot read the artifact: ${err.message}`,
        );
      },
    });
    this.#o.logger.info(
      { deviceId: job.deviceId, version: job.version, offset },
      'sending the agent update',
    );
    job.sender.start(offset);
    this.#progress(job);
  }

  /** A passing refusal (device away, busy, link lost) is tried again later, a few times. */
  #retryOrFail(job: Job, code: string, cause: string): void {
    const passing =
      code === ErrorCode.deviceOffline ||
      code === ErrorCode.deviceBusy ||
      code === ErrorCode.requestLost ||
      code === ErrorCode.tooManyRequests;
    if (!passing || job.attempts >= (this.#o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) {
      this.#finish(job, 'failed', code, cause);
      return;
    }
    job.code = code;
    job.cause = cause;
    this.#set(job, 'pending');
    if (code === ErrorCode.deviceOffline) return; // its next hello starts it again
    job.retryTimer = this.#o.clock.setTimeout(() => {
      job.retryTimer = null;
      this.#schedule();
    }, this.#o.retryMs ?? DEFAULT_RETRY_MS);
    job.retryTimer.unref?.();
  }

  #closeSession(job: Job): void {
    const id = job.requestId;
    if (id !== null)
      this.#link.submit({
        type: 'session_close',
        request_id: id,
        payload: { request_id: id },
        raw: { type: 'session_close', request_id: id, payload: { request_id: id } },
      });
    this.#release(job);
  }

  #release(job: Job): void {
    job.sender?.stop();
    job.sender = null;
    job.stopListening?.();
    job.stopListening = null;
    job.requestId = null;
    const file = job.file;
    job.file = null;
    void file?.close().catch(() => {});
  }

  #finish(job: Job, state: UpdateStateName, code: string | null, cause: string | null): void {
    this.#release(job);
    job.code = code;
    job.cause = cause;
    if (state === 'done') job.bytes = job.size;
    const log =
      state === 'done'
        ? this.#o.logger.info.bind(this.#o.logger)
        : this.#o.logger.warn.bind(this.#o.logger);
    log(
      { deviceId: job.deviceId, version: job.version, state, code, cause },
      `agent update ${state}`,
    );
    this.#set(job, state);
    this.#schedule();
  }

  #set(job: Job, state: UpdateStateName): void {
    job.state = state;
    this.#emit(job);
  }

  #progress(job: Job): void {
    const now = this.#o.clock.now();
    if (now - job.lastProgressAt < (this.#o.progressMs ?? DEFAULT_PROGRESS_MS)) return;
    this.#emit(job);
  }

  #emit(job: Job): void {
    job.updatedAt = isoNow(this.#o.clock);
    job.lastProgressAt = this.#o.clock.now();
    this.#o.onState(view(job));
  }
}

function view(job: Job): UpdateStateView {
  return {
    device_id: job.deviceId,
    version: job.version,
    arch: job.arch,
    state: job.state,
    bytes: job.bytes,
    size: job.size,
    cause: job.cause,
    code: job.code,
    updated_at: job.updatedAt,
  };
}

function openFrame(id: string, job: Job, artifact: Artifact, stream: number): ParsedFrame {
  const payload = {
    device_id: job.deviceId,
    kind: 'update',
    version: artifact.version,
    arch: artifact.arch,
    size: artifact.size,
    sha256: artifact.sha256,
    signature: artifact.signature,
    downgrade: job.downgrade,
    stream,
  };
  return {
    type: 'session_open',
    request_id: id,
    payload,
    raw: { type: 'session_open', request_id: id, payload },
  };
}
