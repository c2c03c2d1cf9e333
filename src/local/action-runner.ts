import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { Clock, TimerHandle } from '../time/clock.js';

/**
 * Runs the command line configured for an app's `call` (local.actions). The feature only sees
 * this narrow interface, so the commands capability's runner can take its place unchanged.
 *
 * The built-in runner bounds everything: `/bin/sh -c` in its own process group, SIGTERM to the
 * group at the time limit and SIGKILL `killGraceMs` later, output kept up to `maxOutputBytes`
 * (the rest counted as truncated), at most `maxConcurrent` actions at once. The call's
 * arguments reach the command as JSON in `IOTTLY_CALL_ARGS`, never spliced into the shell text.
 */
export interface ActionResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  truncated: boolean;
  output: string;
}

export interface ActionRequest {
  commandLine: string;
  env: Record<string, string>;
}

export interface ActionRunner {
  run(request: ActionRequest, abort: AbortSignal): Promise<ActionResult>;
}

export type SpawnFunction = (
  command: string,
  args: string[],
  options: SpawnOptions,
) => ChildProcess;

export interface ProcessActionRunnerOptions {
  timeoutMs: number;
  killGraceMs: number;
  maxOutputBytes: number;
  maxConcurrent: number;
  clock: Clock;
  spawn?: SpawnFunction;
  /** The environment actions inherit (the agent's own by default). */
  baseEnv?: NodeJS.ProcessEnv;
}

export class ActionBusyError extends Error {
  readonly code = 'action_busy';
}

export class ProcessActionRunner implements ActionRunner {
  readonly #o: ProcessActionRunnerOptions;
  readonly #spawn: SpawnFunction;
  #running = 0;

  constructor(options: ProcessActionRunnerOptions) {
    this.#o = options;
    this.#spawn = options.spawn ?? nodeSpawn;
  }

  get running(): number {
    return this.#running;
  }

  async run(request: ActionRequest, abort: AbortSignal): Promise<ActionResult> {
    if (this.#running >= this.#o.maxConcurrent) {
      throw new ActionBusyError(`${this.#o.maxConcurrent} actions are running already`);
    }
    this.#running++;
    try {
      return await this.#run(request, abort);
    } finally {
      this.#running--;
    }
  }

  #run(request: ActionRequest, abort: AbortSignal): Promise<ActionResult> {
    const { clock, maxOutputBytes } = this.#o;
    const child = this.#spawn('/bin/sh', ['-c', request.commandLine], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...(this.#o.baseEnv ?? process.env), ...request.env },
    });
    const pieces: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    const collect = (chunk: Buffer): void => {
      const room = maxOutputBytes - kept;
      if (chunk.length > room) truncated = true;
      if (room <= 0) return;
      const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
      pieces.push(piece);
      kept += piece.length;
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);

    let timedOut = false;
    let killTimer: TimerHandle | null = null;
    const terminate = (): void => {
      signalGroup(child, 'SIGTERM');
      killTimer ??= clock.setTimeout(() => signalGroup(child, 'SIGKILL'), this.#o.killGraceMs);
    };
    const timer = clock.setTimeout(() => {
      timedOut = true;
      terminate();
    }, this.#o.timeoutMs);
    abort.addEventListener('abort', terminate, { once: true });

    return new Promise((resolve, reject) => {
      child.once('error', (err) => {
        clock.clearTimeout(timer);
        if (killTimer) clock.clearTimeout(killTimer);
        abort.removeEventListener('abort', terminate);
        reject(err);
      });
      child.once('close', (code, signal) => {
        clock.clearTimeout(timer);
        if (killTimer) clock.clearTimeout(killTimer);
        abort.removeEventListener('abort', terminate);
        resolve({
          exitCode: code,
          signal,
          timedOut,
          truncated,
          output: Buffer.concat(pieces).toString('utf8'),
        });
      });
    });
  }
}

/** Signals the child's whole process group (it was spawned detached, as its leader). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal); // the group is gone already, or this platform has none
  }
}
