import { basename } from 'node:path';
import type { AgentContext, Feature } from '../../agent/agent.js';
import type { SessionOpenRequest } from '../../agent/session-kinds.js';
import { ByteFd, ByteKind } from '../../protocol/byte-frame.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { Channel } from '../../protocol/message.js';
import type { RunAs } from '../../process/run-as.js';
import { resolveProgram } from '../../process/program-path.js';
import { CommandPolicy, type PolicyOptions } from '../command-policy.js';
import { shellQuote } from '../pty.js';
import { RunningCommands } from '../running-commands.js';
import { RemoteSession } from './remote-session.js';
import { sessionOpenPayload, type SessionOpenPayload } from './session-payloads.js';
import type { TerminalDeps, TerminalSpec } from './terminal-session.js';

/**
 * Interactive shell sessions: `session_open` from the hub starts a terminal running the login
 * shell of the user commands run as (or the command it names); `session_input`,
 * `session_resize` and `session_close` drive it; `session_done` ends it, exactly once.
 *
 * The gates are the commands' (commands.enabled, the policy, the run-as user) and
 * `shell.enabled`. A login shell can run any program, so while a command policy is set it
 * starts only when an allow pattern matches the shell's path (say `^/bin/bash$`): a policy
 * that lets through three programs does not let through a shell that runs all the others.
 */
export interface ShellSettings {
  enabled: boolean;
  idleTimeoutS: number;
  maxSessions: number;
}

export interface ShellFeatureOptions {
  settings: ShellSettings;
  /** The commands' policy settings (enabled, allow, deny, allowShell, allowEnv). */
  policy: PolicyOptions;
  killGraceMs: number;
  /** Grace between SIGTERM and SIGKILL at agent shutdown. */
  shutdownGraceMs: number;
  runAs: RunAs | null;
  /** The login shell of the user sessions run as (from the passwd file), and its home. */
  loginShell: string;
  home: string | undefined;
  baseEnv: Record<string, string>;
  terminal: TerminalDeps;
  resolveProgram?: (name: string, searchPath: string | undefined) => string | null;
}

/** TERM unless the client names its own: what xterm.js and most terminals emulate. */
export const DEFAULT_TERM = 'xterm-256color';
/** Accounts that may not log in: a session for them runs /bin/sh instead (see README). */
const NO_LOGIN = new Set(['nologin', 'false']);
export const FALLBACK_SHELL = '/bin/sh';

export class ShellFeature implements Feature {
  readonly name = 'shell';
  readonly #o: ShellFeatureOptions;
  readonly #policy: CommandPolicy;
  readonly #sessions: RunningCommands<RemoteSession>;
  #stopping = false;

  constructor(options: ShellFeatureOptions) {
    this.#o = options;
    this.#policy = new CommandPolicy(options.policy);
    this.#sessions = new RunningCommands(options.settings.maxSessions);
  }

  get #enabled(): boolean {
    return this.#o.policy.enabled && this.#o.settings.enabled;
  }

  capabilities(): string[] {
    return this.#enabled ? ['shell'] : [];
  }

  openRequests(): string[] {
    return this.#sessions.ids();
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  start(context: AgentContext): void {
    context.sessions.register('shell', {
      payload: sessionOpenPayload,
      open: (payload, request) => this.#open(context, payload, request),
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const sessions = this.#sessions.values();
    for (const session of sessions) session.close(this.#o.shutdownGraceMs);
    await Promise.all(sessions.map((session) => session.done));
  }

  abort(): number {
    const sessions = this.#sessions.values();
    for (const session of sessions) session.close(0);
    return sessions.length;
  }

  #open(context: AgentContext, payload: SessionOpenPayload, request: SessionOpenRequest): void {
    const { requestId, stream } = request;
    const reply = (type: string, body: Record<string, unknown>): void =>
      context.emit(type, type === 'error' ? Channel.errors : Channel.commands, body, requestId);
    const refuse = (code: ErrorCode, message: string): void => {
      context.logger.warn({ code, request_id: requestId }, message);
      reply('error', { code, message });
    };
    const refusal = this.#refusal(payload);
    if (refusal) {
      refuse(refusal.code, refusal.message);
      return;
    }
    if (this.#stopping) {
      refuse(ErrorCode.busy, 'the agent is shutting down');
      return;
    }
    const programLine = this.#programLine(payload);
    if (programLine === null) {
      refuse(
        ErrorCode.commandFailed,
        `shell session could not start: program ${JSON.stringify(payload.argv?.[0]?.slice(0, 200))} not found in the agent's PATH`,
      );
      return;
    }
    const sendOutput =
      stream === null
        ? (bytes: Buffer) => reply('session_output', { data: bytes.toString('base64') })
        : (bytes: Buffer) =>
            context.emitBytes({ kind: ByteKind.data, stream, fd: ByteFd.stdout, data: bytes });
    const admission = this.#sessions.admit(requestId, () =>
      RemoteSession.start({
        requestId,
        spec: this.#spec(payload, programLine),
        terminal: this.#o.terminal,
        outbox: context.outbox,
        emit: reply,
        sendOutput,
        logger: context.logger,
      }),
    );
    if (!admission.ok) {
      refuse(
        admission.code,
        admission.code === ErrorCode.busy
          ? `${this.#sessions.size} shell sessions are open, the most this device allows (shell.maxSessions)`
          : admission.message,
      );
      return;
    }
    const session = admission.entry;
    context.logger.info(
      {
        request_id: requestId,
        command: payload.command ?? payload.argv?.join(' ') ?? this.#shell(),
        pid: session.pid,
        requested_by: request.requestedBy,
      },
      'shell session started',
    );
    const keystrokes = (bytes: Buffer): void => {
      if (!session.write(bytes))
        context.logger.debug({ request_id: requestId }, 'session input dropped');
    };
    const untrack = context.sessions.track(requestId, {
      input: keystrokes,
      resize: (size) => session.resize(size),
      close: () => {
        context.logger.info({ request_id: requestId }, 'shell session closed by its client');
        session.close();
      },
    });
    // Keystrokes as binary frames (fd 0); an eof means nothing to a terminal (Ctrl-D is a byte).
    const closeStream =
      stream === null
        ? null
        : context.router.openStream(stream, (frame) => {
            if (frame.kind !== ByteKind.data || frame.fd !== ByteFd.stdin) return;
            keystrokes(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.length));
          });
    void session.done.finally(() => {
      untrack();
      closeStream?.();
      this.#sessions.release(requestId);
    });
  }

  /** Why this session may not start (the gates, in the order an operator would look), or null. */
  #refusal(payload: SessionOpenPayload): { code: ErrorCode; message: string } | null {
    if (!this.#o.policy.enabled)
      return {
        code: ErrorCode.commandDenied,
        message: 'remote commands are disabled on this device',
      };
    if (!this.#o.settings.enabled)
      return {
        code: ErrorCode.shellDenied,
        message: 'shell sessions are disabled on this device (shell.enabled)',
      };
    const { policy } = this.#o;
    const policySet = policy.allow.length > 0 || policy.deny.length > 0;
    const loginShell = payload.command === undefined && payload.argv === undefined;
    if (loginShell && policySet && policy.allow.length === 0) {
      return {
        code: ErrorCode.shellDenied,
        message: `a login shell could run what commands.deny refuses: name ${this.#shell()} in commands.allow to permit it`,
      };
    }
    const request = loginShell ? { ...payload, argv: [this.#shell()] } : payload;
    const decision = this.#policy.check(request);
    if (decision.allowed) return null;
    return loginShell
      ? {
          code: ErrorCode.shellDenied,
          message: `login shell ${this.#shell()} refused by the command policy: ${decision.reason}`,
        }
      : { code: ErrorCode.commandDenied, message: `command refused: ${decision.reason}` };
  }

  /** The login shell sessions run, by its absolute path. */
  #shell(): string {
    const shell = this.#o.loginShell;
    return shell.startsWith('/') && !NO_LOGIN.has(basename(shell)) ? shell : FALLBACK_SHELL;
  }

  /** The /bin/sh line that starts the program; null when an argv program is not in PATH. */
  #programLine(payload: SessionOpenPayload): string | null {
    if (payload.command !== undefined) return payload.command;
    if (payload.argv !== undefined) {
      const [name = '', ...args] = payload.argv;
      const program = name.includes('/')
        ? name
        : (this.#o.resolveProgram ?? resolveProgram)(name, this.#o.baseEnv.PATH);
      if (program === null) return null;
      return `exec ${[program, ...args].map(shellQuote).join(' ')}`;
    }
    return `exec ${shellQuote(this.#shell())} -l`;
  }

  #spec(payload: SessionOpenPayload, programLine: string): TerminalSpec {
    const { runAs } = this.#o;
    const env: Record<string, string> = { ...this.#o.baseEnv, TERM: DEFAULT_TERM };
    if (runAs?.name !== undefined) Object.assign(env, { USER: runAs.name, LOGNAME: runAs.name });
    if (this.#o.home !== undefined) env.HOME = this.#o.home;
    Object.assign(env, payload.env);
    env.SHELL = this.#shell();
    const spec: TerminalSpec = {
      programLine,
      size: { rows: payload.rows, cols: payload.cols },
      env,
      idleTimeoutMs: Math.round(this.#o.settings.idleTimeoutS * 1000),
      killGraceMs: this.#o.killGraceMs,
    };
    const cwd = payload.cwd ?? this.#o.home;
    if (cwd !== undefined) spec.cwd = cwd;
    if (runAs) Object.assign(spec, { uid: runAs.uid, gid: runAs.gid });
    return spec;
  }
}
