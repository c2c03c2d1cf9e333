import type { Logger } from 'pino';
import type { Outbox } from '../../agent/outbox.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import type { TerminalSize } from './terminal-size.js';
import {
  TerminalSession,
  type TerminalDeps,
  type TerminalResult,
  type TerminalSpec,
} from './terminal-session.js';

/**
 * One shell session from `session_open` to `session_done`: runs the terminal, sends what it
 * writes as it comes (no coalescing window: an echo is one keystroke's round trip), and says
 * how it ended.
 *
 * Output is paced by the outbox: while it is backed up (the socket over its high-water mark, or
 * the link down) the terminal is not read, so the program blocks on a full terminal instead of
 * the agent buffering. What was sent is in the spool until the hub acknowledges it, so a short
 * link drop loses nothing: it is resent after the next `welcome`, and the terminal is read again.
 */
export type SessionEmit = (type: string, payload: Record<string, unknown>) => void;

export interface RemoteSessionOptions {
  requestId: string;
  spec: TerminalSpec;
  terminal: TerminalDeps;
  outbox: Pick<Outbox, 'isBackedUp' | 'onDrain'>;
  emit: SessionEmit;
  /** Sends one piece of terminal output (JSON base64, or a binary frame on a link that has them). */
  sendOutput: (bytes: Buffer) => void;
  logger: Logger;
}

export class RemoteSession {
  readonly requestId: string;
  /** Resolves once `session_done` (or the start failure) has been emitted. */
  readonly done: Promise<TerminalResult>;
  readonly #o: RemoteSessionOptions;
  readonly #terminal: TerminalSession;
  readonly #unsubscribeDrain: () => void;
  #openedSent = false;

  static start(options: RemoteSessionOptions): RemoteSession {
    let session: RemoteSession | null = null;
    // Output only arrives from the terminal's pipe, on a later turn, by when `session` is set.
    const terminal = TerminalSession.start(options.spec, options.terminal, (bytes) => {
      if (session) session.#onOutput(bytes);
    });
    session = new RemoteSession(options, terminal);
    return session;
  }

  private constructor(options: RemoteSessionOptions, terminal: TerminalSession) {
    this.#o = options;
    this.requestId = options.requestId;
    this.#terminal = terminal;
    this.#unsubscribeDrain = options.outbox.onDrain(() => {
      if (!options.outbox.isBackedUp()) this.#terminal.resume();
    });
    this.done = terminal.result.then((result) => {
      this.#finish(result);
      return result;
    });
    if (terminal.pid !== undefined) this.#opened();
  }

  get pid(): number | undefined {
    return this.#terminal.pid;
  }

  /** Keystrokes; false when dropped (the session is ending, or input is backed up). */
  write(bytes: Buffer): boolean {
    return this.#terminal.write(bytes);
  }

  resize(size: TerminalSize): void {
    this.#terminal.resize(size);
  }

  close(graceMs?: number): void {
    this.#terminal.close(graceMs);
  }

  #opened(): void {
    if (this.#openedSent) return;
    this.#openedSent = true;
    this.#o.emit('session_opened', { pid: this.#terminal.pid });
  }

  #onOutput(bytes: Buffer): void {
    this.#o.sendOutput(bytes);
    if (this.#o.outbox.isBackedUp()) this.#terminal.pause();
  }

  #finish(result: TerminalResult): void {
    this.#unsubscribeDrain();
    if (result.error) {
      const message = `shell session could not start: ${result.error.message}`;
      this.#o.logger.warn(
        { code: ErrorCode.commandFailed, request_id: this.requestId, cause: result.error.code },
        message,
      );
      this.#o.emit('error', { code: ErrorCode.commandFailed, message });
      return;
    }
    const done = {
      exit_code: result.exitCode,
      signal: result.signal,
      idle: result.idle,
      closed: result.closed,
      duration_ms: result.durationMs,
    };
    this.#o.logger.info({ request_id: this.requestId, ...done }, 'shell session done');
    this.#o.emit('session_done', done);
  }
}
