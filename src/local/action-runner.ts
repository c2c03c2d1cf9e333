import { shellArgv, type CommandRunner } from '../process/runner.js';
import type { RunAs } from '../process/run-as.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { CodedError } from '../protocol/coded-error.js';

/**
 * Runs the command line configured for an app's `call` (local.actions). The feature sees only
 * the narrow `ActionRunner` interface; `CommandActionRunner` runs actions on the commands
 * capability's runner, so they get the command machinery's limits: `/bin/sh -c` in a process
 * group of its own, the timeout, SIGTERM then SIGKILL after the grace, the output cap, the
 * user/group of `commands.user`/`commands.group`, and at most `maxConcurrent` at once. The
 * call's arguments reach the command as JSON in `IOTTLY_CALL_ARGS`, never spliced into the
 * shell text.
 */
export interface ActionResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  truncated: boolean;
  stdout: string;
  stderr: string;
}

export interface ActionRequest {
  commandLine: string;
  env: Record<string, string>;
}

export interface ActionRunner {
  run(request: ActionRequest, abort: AbortSignal): Promise<ActionResult>;
}

export class ActionError extends CodedError {}

export interface ActionLimits {
  timeoutMs: number;
  killGraceMs: number;
  maxOutputBytes: number;
  maxConcurrent: number;
}

export interface CommandActionRunnerOptions {
  runner: CommandRunner;
  limits: ActionLimits;
  /** The environment every action starts from (the agent's, without IOTTLY_* secrets). */
  baseEnv: Record<string, string>;
  runAs: RunAs | null;
}

export class CommandActionRunner implements ActionRunner {
  readonly #o: CommandActionRunnerOptions;
  #running = 0;

  constructor(options: CommandActionRunnerOptions) {
    this.#o = options;
  }

  async run(request: ActionRequest, abort: AbortSignal): Promise<ActionResult> {
    const { limits, runAs } = this.#o;
    if (this.#running >= limits.maxConcurrent) {
      throw new ActionError(ErrorCode.busy, `${limits.maxConcurrent} actions are running already`);
    }
    this.#running++;
    try {
      const result = await this.#o.runner.run(
        {
          argv: shellArgv(request.commandLine),
          env: { ...this.#o.baseEnv, ...request.env },
          timeoutMs: limits.timeoutMs,
          maxOutputBytes: limits.maxOutputBytes,
          killGraceMs: limits.killGraceMs,
          ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
        },
        abort,
      );
      if (result.error) throw new ActionError(result.error.code, result.error.message);
      return {
        exitCode: result.exitCode,
        signal: result.signal,
        timedOut: result.timedOut,
        truncated: result.truncated,
        stdout: result.stdout.toString('utf8'),
        stderr: result.stderr.toString('utf8'),
      };
    } finally {
      this.#running--;
    }
  }
}
