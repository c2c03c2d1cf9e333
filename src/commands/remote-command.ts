import type { Logger } from 'pino';
import type { Outbox } from '../agent/outbox.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { Clock } from '../time/clock.js';
import {
  COALESCE_MAX_BYTES,
  COALESCE_WINDOW_MS,
  OutputCoalescer,
  type OutputFd,
} from '../process/coalescer.js';
import type {
  CommandResult,
  CommandRunner,
  CommandSpec,
  RunningCommand,
} from '../process/runner.js';
import { Utf8Splitter } from '../protocol/utf8-chunks.js';
import { ByteFd, ByteKind } from '../protocol/byte-frame.js';
import type { OutboundBytes } from '../agent/outbox.js';

/**
 * One remote command from start to `command_done`: runs it, turns its output into
 * `command_output` frames and its end into `command_done`.
 *
 * Streamed output is coalesced (20 ms or 64 KiB), cut on UTF-8 character borders, and paced
 * by the outbox: while the outbox is backed up (socket over its high-water mark, or the link
 * down) the child's pipes are not read, so the child blocks instead of the agent buffering.
 * Unstreamed output is held (bounded by the output cap) and sent at the end.
 *
 * With `bytes` (the hub named a stream number and the link speaks binary frames) the output
 * goes out as raw binary frames under that number instead of `command_output`, uncut.
 */
export type Emit = (type: string, payload: Record<string, unknown>) => void;

export interface RemoteCommandOptions {
  requestId: string;
  spec: CommandSpec;
  streamOutput: boolean;
  runner: CommandRunner;
  outbox: Pick<Outbox, 'isBackedUp' | 'onDrain'>;
  emit: Emit;
  clock: Clock;
  logger: Logger;
  coalesceWindowMs?: number;
  chunkBytes?: number;
  /** Output as binary frames under `stream` (docs/protocol.md, raw bytes). */
  bytes?: { stream: number; emitBytes: (frame: OutboundBytes) => void };
}

export class RemoteCommand {
  readonly requestId: string;
  /** Resolves once `command_done` (or the start failure) has been emitted. */
  readonly done: Promise<CommandResult>;
  readonly #o: RemoteCommandOptions;
  readonly #running: RunningCommand;
  readonly #coalescer: OutputCoalescer;
  readonly #splitters: Record<OutputFd, Utf8Splitter> = {
    stdout: new Utf8Splitter(),
    stderr: new Utf8Splitter(),
  };
  #unsubscribeDrain: (() => void) | null = null;
  /** Unstreamed output, kept whole until the end (the output cap bounds it); null when streamed. */
  readonly #collected: Record<OutputFd, Buffer[]> | null;

  /**
   * Starts the command's process and returns the command that reports it. The process starts
   * here, not in the constructor, so that building the object has no side effect.
   */
  static start(options: RemoteCommandOptions): RemoteCommand {
    // Output only arrives from the child's pipes, on a later turn, by when `command` is set.
    let command: RemoteCommand | null = null;
    const running = options.runner.start(options.spec, (fd, bytes) => {
      if (command) command.#onOutput(fd, bytes);
    });
    command = new RemoteCommand(options, running);
    return command;
  }

  private constructor(options: RemoteCommandOptions, running: RunningCommand) {
    this.#o = options;
    this.requestId = options.requestId;
    this.#running = running;
    this.#coalescer = new OutputCoalescer({
      windowMs: options.coalesceWindowMs ?? COALESCE_WINDOW_MS,
      maxBytes: options.chunkBytes ?? COALESCE_MAX_BYTES,
      clock: options.clock,
      onPiece: (fd, bytes) => this.#send(fd, bytes, false),
    });
    this.#collected = options.streamOutput ? null : { stdout: [], stderr: [] };
    if (options.streamOutput) {
      this.#unsubscribeDrain = options.outbox.onDrain(() => {
        if (!options.outbox.isBackedUp()) this.#running.resume();
      });
    }
    this.done = this.#running.result.then((result) => {
      const collected = this.#collected;
      if (collected)
        for (const fd of ['stdout', 'stderr'] as const)
          this.#coalescer.push(fd, Buffer.concat(collected[fd]));
      this.#finish(result);
      return result;
    });
  }

  #onOutput(fd: OutputFd, bytes: Buffer): void {
    if (this.#collected) this.#collected[fd].push(bytes);
    else this.#coalescer.push(fd, bytes);
  }

  get pid(): number | undefined {
    return this.#running.pid;
  }

  cancel(graceMs?: number): void {
    this.#running.cancel(graceMs);
  }

  write(bytes: Buffer, taken?: () => void): boolean {
    return this.#running.write(bytes, taken);
  }

  /** Stdin bytes the agent holds for the child (not yet in its pipe). */
  get inputPending(): number {
    return this.#running.inputPending;
  }

  endInput(): boolean {
    return this.#running.endInput();
  }

  #send(fd: OutputFd, bytes: Buffer, final: boolean): void {
    const { bytes: byteStream } = this.#o;
    if (byteStream) {
      if (bytes.length > 0)
        byteStream.emitBytes({
          kind: ByteKind.data,
          stream: byteStream.stream,
          fd: fd === 'stderr' ? ByteFd.stderr : ByteFd.stdout,
          data: bytes,
        });
    } else {
      const encoded = this.#splitters[fd].take(bytes, final);
      if (encoded) this.#o.emit('command_output', { ...encoded, fd });
    }
    if (this.#unsubscribeDrain && this.#o.outbox.isBackedUp()) this.#running.pause();
  }

  #finish(result: CommandResult): void {
    this.#coalescer.flush();
    for (const fd of ['stdout', 'stderr'] as const) {
      if (this.#splitters[fd].held > 0) this.#send(fd, Buffer.alloc(0), true);
    }
    this.#coalescer.dispose();
    this.#unsubscribeDrain?.();
    if (result.error) {
      this.#o.logger.warn(
        { code: ErrorCode.commandFailed, request_id: this.requestId, cause: result.error.code },
        `command could not start: ${result.error.message}`,
      );
      this.#o.emit('error', {
        code: ErrorCode.commandFailed,
        message: `command could not start: ${result.error.message}`,
      });
      return;
    }
    const done = {
      exit_code: result.exitCode,
      signal: result.signal,
      timed_out: result.timedOut,
      cancelled: result.cancelled,
      truncated: result.truncated,
      duration_ms: result.durationMs,
    };
    this.#o.logger.info({ request_id: this.requestId, ...done }, 'command done');
    this.#o.emit('command_done', done);
  }
}
