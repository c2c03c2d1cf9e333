import type { Logger } from 'pino';
import type { AgentContext, Feature } from '../agent/agent.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { Channel } from '../protocol/message.js';
import type { ParsedFrame } from '../protocol/parse.js';
import { RemoteCommand } from './remote-command.js';
import { RunningCommands } from './running-commands.js';
import {
  commandCancelPayload,
  commandInputPayload,
  commandPayload,
  type CommandInputPayload,
  type CommandPayload,
} from './command-payloads.js';
import { CommandPolicy, commandLine } from './command-policy.js';
import { resolveProgram } from '../process/program-path.js';
import { PTY_SHELL, ptyArgv, shellQuote } from './pty.js';
import type { RunAs } from '../process/run-as.js';
import { CommandRunner, shellArgv, type CommandSpec } from '../process/runner.js';
import { ByteFd, ByteKind, type ByteFrame } from '../protocol/byte-frame.js';

/**
 * Remote commands: `command` from the hub runs a shell line or an argv on the device,
 * `command_output` / `command_done` carry the result back, `command_cancel` ends it and
 * `command_input` feeds its stdin. Limits, policy and the process-group handling live in
 * their own files; this one wires them to the router and the outbox.
 */
export interface CommandsSettings {
  enabled: boolean;
  defaultTimeoutS: number;
  maxTimeoutS: number;
  killGraceMs: number;
  maxConcurrent: number;
  maxOutputBytes: number;
  allow: readonly string[];
  deny: readonly string[];
  allowShell: boolean;
  allowEnv: readonly string[];
}

export interface CommandsFeatureOptions {
  settings: CommandsSettings;
  runner: CommandRunner;
  /** The user and group commands run as; null for the agent's own. */
  runAs: RunAs | null;
  /** The environment every command starts from (the agent's, without its secrets). */
  baseEnv: Record<string, string>;
  /** Grace between SIGTERM and SIGKILL at agent shutdown (within the shutdown timeout). */
  shutdownGraceMs: number;
  coalesceWindowMs?: number;
  /** Finds an argv program in the agent's PATH (default: `resolveProgram` on the real disk). */
  resolveProgram?: (name: string, searchPath: string | undefined) => string | null;
}

/**
 * Stdin of a byte-stream command: the agent tells the hub how much the child has taken
 * (`input_consumed`, cumulative) at least every INPUT_REPORT_BYTES, so the client can keep a
 * window of unconsumed stdin. A client that ignores it and has MAX_INPUT_PENDING_BYTES held for
 * the child has its command cancelled: the agent never holds more than that per command.
 */
export const INPUT_REPORT_BYTES = 256 * 1024;
export const MAX_INPUT_PENDING_BYTES = 16 * 1024 * 1024;

/** Longest command line written to the log (the audit trail names what ran). */
const LOGGED_LINE_CHARS = 200;

export const COMMAND_CAPABILITIES = [
  'commands',
  'commands:argv',
  'commands:cancel',
  'commands:stdin',
  'commands:pty',
];

export class CommandsFeature implements Feature {
  readonly name = 'commands';
  readonly #o: CommandsFeatureOptions;
  readonly #policy: CommandPolicy;
  readonly #running: RunningCommands<RemoteCommand>;
  #context: AgentContext | null = null;
  #stopping = false;

  constructor(options: CommandsFeatureOptions) {
    this.#o = options;
    this.#policy = new CommandPolicy(options.settings);
    this.#running = new RunningCommands(options.settings.maxConcurrent);
  }

  capabilities(): string[] {
    return this.#policy.enabled ? COMMAND_CAPABILITIES : [];
  }

  /** Running commands, by the hub's request_id: their `command_done` is still to come. */
  openRequests(): string[] {
    return this.#running.ids();
  }

  /** Commands running now (for status and tests). */
  get runningCount(): number {
    return this.#running.size;
  }

  start(context: AgentContext): void {
    this.#context = context;
    context.router.register('command', commandPayload, (payload, frame) =>
      this.#command(context, payload, frame),
    );
    context.router.register('command_cancel', commandCancelPayload, (payload, frame) => {
      const id = payload.request_id ?? frame.request_id;
      const command = id === undefined ? undefined : this.#running.get(id);
      if (!command) {
        context.logger.debug({ request_id: id }, 'cancel for a command that is not running');
        return;
      }
      context.logger.info({ request_id: id }, 'command cancelled');
      command.cancel();
    });
    context.router.register('command_input', commandInputPayload, (payload, frame) =>
      this.#input(context.logger, payload, frame),
    );
  }

  /** Ends every running group (SIGTERM, SIGKILL after the shutdown grace) and waits for them. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const commands = this.#running.values();
    if (commands.length > 0) {
      this.#context?.logger.info({ running: commands.length }, 'ending running commands');
    }
    for (const command of commands) command.cancel(this.#o.shutdownGraceMs);
    await Promise.all(commands.map((command) => command.done));
  }

  #command(context: AgentContext, payload: CommandPayload, frame: ParsedFrame): void {
    const requestId = frame.request_id;
    const reply = (type: string, body: Record<string, unknown>): void =>
      context.emit(type, type === 'error' ? Channel.errors : Channel.commands, body, requestId);
    const refuse = (code: ErrorCode, message: string): void => reply('error', { code, message });
    if (requestId === undefined) {
      refuse(ErrorCode.invalidPayload, 'command: request_id is required');
      return;
    }
    const line = commandLine(payload);
    const logged = line.length > LOGGED_LINE_CHARS ? `${line.slice(0, LOGGED_LINE_CHARS)}…` : line;
    const decision = this.#policy.check(payload);
    if (!decision.allowed) {
      context.logger.warn(
        { code: ErrorCode.commandDenied, request_id: requestId, command: logged },
        `command refused: ${decision.reason}`,
      );
      refuse(ErrorCode.commandDenied, `command refused: ${decision.reason}`);
      return;
    }
    if (this.#stopping) {
      refuse(ErrorCode.busy, 'the agent is shutting down');
      return;
    }
    const program = this.#program(payload);
    if (program === null) {
      const message = `command could not start: program ${JSON.stringify(payload.argv?.[0]?.slice(0, 200))} not found in the agent's PATH`;
      context.logger.warn({ code: ErrorCode.commandFailed, request_id: requestId }, message);
      refuse(ErrorCode.commandFailed, message);
      return;
    }
    const stream =
      payload.stream !== undefined && context.speaksBytes() ? payload.stream : undefined;
    if (stream !== undefined && context.router.hasStream(stream)) {
      refuse(ErrorCode.invalidPayload, `command: stream ${stream} is already in use`);
      return;
    }
    const admission = this.#running.admit(requestId, () =>
      RemoteCommand.start({
        ...(stream !== undefined
          ? { bytes: { stream, emitBytes: (frame) => context.emitBytes(frame) } }
          : {}),
        requestId,
        spec: this.#spec(payload, program),
        streamOutput: payload.stream_output ?? false,
        runner: this.#o.runner,
        outbox: context.outbox,
        emit: reply,
        clock: context.clock,
        logger: context.logger,
        ...(this.#o.coalesceWindowMs !== undefined
          ? { coalesceWindowMs: this.#o.coalesceWindowMs }
          : {}),
      }),
    );
    if (!admission.ok) {
      context.logger.warn({ code: admission.code, request_id: requestId }, admission.message);
      refuse(admission.code, admission.message);
      return;
    }
    const command = admission.entry;
    context.logger.info(
      { request_id: requestId, command: logged, pid: command.pid },
      'command started',
    );
    const closeStream =
      stream === undefined
        ? () => {}
        : context.router.openStream(stream, this.#stdinFrames(context, command, reply));
    void command.done.finally(() => {
      closeStream();
      this.#running.release(requestId);
    });
  }

  /** Stdin frames for a byte-stream command, with the consumption reports and the bound. */
  #stdinFrames(
    context: AgentContext,
    command: RemoteCommand,
    reply: (type: string, body: Record<string, unknown>) => void,
  ): (frame: ByteFrame) => void {
    let consumed = 0;
    let reported = 0;
    let overflowed = false;
    const taken = (bytes: number): void => {
      consumed += bytes;
      if (consumed - reported < INPUT_REPORT_BYTES && command.inputPending > 0) return;
      reported = consumed;
      reply('input_consumed', { bytes: consumed });
    };
    return (frame) => {
      if (frame.fd !== ByteFd.stdin || overflowed) return;
      if (frame.kind === ByteKind.eof) {
        command.endInput();
        return;
      }
      const bytes = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.length);
      if (command.inputPending + bytes.length > MAX_INPUT_PENDING_BYTES) {
        overflowed = true;
        context.logger.warn(
          { code: ErrorCode.inputOverflow, request_id: command.requestId },
          `stdin over ${MAX_INPUT_PENDING_BYTES} bytes not yet taken by the command: cancelling it`,
        );
        command.cancel();
        return;
      }
      if (!command.write(bytes, () => taken(bytes.length)))
        context.logger.debug({ request_id: command.requestId }, 'stdin for a closed input');
    };
  }

  /**
   * The argv program as it will be spawned: a name without `/` found in the agent's PATH (never
   * the request's `env.PATH`), null when it is not there; undefined for a shell line.
   */
  #program(payload: CommandPayload): string | null | undefined {
    const name = payload.argv?.[0];
    if (name === undefined || name.includes('/')) return name;
    return (this.#o.resolveProgram ?? resolveProgram)(name, this.#o.baseEnv.PATH);
  }

  #spec(payload: CommandPayload, program: string | undefined): CommandSpec {
    const { settings, runAs } = this.#o;
    const timeoutS = Math.min(payload.timeout_s ?? settings.defaultTimeoutS, settings.maxTimeoutS);
    const argvToRun = payload.argv && program ? [program, ...payload.argv.slice(1)] : undefined;
    const line = payload.command ?? (argvToRun ?? []).map(shellQuote).join(' ');
    const argv = payload.pty
      ? ptyArgv(line)
      : payload.command !== undefined
        ? shellArgv(payload.command)
        : (argvToRun as string[]);
    const env: Record<string, string> = { ...this.#o.baseEnv };
    if (runAs?.name !== undefined) Object.assign(env, { USER: runAs.name, LOGNAME: runAs.name });
    if (runAs?.home !== undefined) env.HOME = runAs.home;
    if (payload.pty) env.TERM ??= 'xterm-256color';
    Object.assign(env, payload.env);
    // `script` runs the line with `$SHELL -c`: the shell is ours, whatever the request sent.
    if (payload.pty) env.SHELL = PTY_SHELL;
    const spec: CommandSpec = {
      argv,
      env,
      timeoutMs: Math.round(timeoutS * 1000),
      maxOutputBytes: settings.maxOutputBytes,
      killGraceMs: settings.killGraceMs,
      stdin: payload.stdin === true || payload.pty === true,
    };
    if (payload.cwd !== undefined) spec.cwd = payload.cwd;
    if (runAs) Object.assign(spec, { uid: runAs.uid, gid: runAs.gid });
    return spec;
  }

  #input(logger: Logger, payload: CommandInputPayload, frame: ParsedFrame): void {
    const id = payload.request_id ?? frame.request_id;
    const command = id === undefined ? undefined : this.#running.get(id);
    // No error frame: the hub would relay it as the end of a command that may still run.
    if (!command) {
      logger.debug({ request_id: id }, 'input for a command that is not running');
      return;
    }
    const bytes = Buffer.from(
      payload.data ?? '',
      payload.encoding === 'base64' ? 'base64' : 'utf8',
    );
    const written =
      (bytes.length === 0 || command.write(bytes)) && (!payload.eof || command.endInput());
    if (!written) {
      logger.warn(
        { code: ErrorCode.invalidPayload, request_id: id },
        'command_input for a command without an open stdin (start it with "stdin": true)',
      );
    }
  }

  /**
   * At a fatal error the process exits now: no grace is left to wait for, so every running
   * command's process group gets SIGKILL, synchronously, rather than being orphaned.
   */
  abort(): number {
    const commands = this.#running.values();
    for (const command of commands) command.cancel(0);
    return commands.length;
  }
}
