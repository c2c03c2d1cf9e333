import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Clock, TimerHandle } from '../time/clock.js';
import type { OutputFd } from './coalescer.js';
import { childClosed } from './child-closed.js';
import { OutputBudget } from './output-budget.js';
import { runningMembers } from './group-members.js';
import { ProcessGroup, type KillFunction } from './process-group.js';

/**
 * Runs one command in a process group of its own, within limits, and says how it ended:
 *
 *     spawned ─▶ running ─┬─ leader exits ──────────────┐
 *                         ├─ timeout / cancel / output cap ─▶ SIGTERM group ─(grace)─▶ SIGKILL
 *                         └──────────────────────────────┴─▶ stdio closed, group empty ─▶ result
 *
 * Whatever the leader leaves running in its group when it exits (a `sleep &` of a shell line)
 * is ended too: a command never leaves a process behind. Output goes to `onOutput` as it is
 * read; `pause()` stops reading, so a child that keeps writing blocks on its full pipe instead
 * of the agent buffering without bound.
 *
 * This is the programmatic API other features use to run a program "with the command
 * machinery's limits" (`CommandRunner.run` collects the whole output).
 */
export interface CommandSpec {
  /** The program and its arguments; no shell (see `shellArgv` for a shell line). */
  argv: readonly string[];
  cwd?: string;
  /** The complete environment of the child. */
  env: Readonly<Record<string, string>>;
  timeoutMs: number;
  maxOutputBytes: number;
  killGraceMs: number;
  /** Give the child a stdin pipe (`write`/`endInput`); otherwise it reads /dev/null. */
  stdin?: boolean;
  uid?: number;
  gid?: number;
}

export interface CommandResult {
  /** The exit status, or null when the command died by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cancelled: boolean;
  truncated: boolean;
  durationMs: number;
  /** Set when the command could not be started (ENOENT, EACCES, EPERM…). */
  error?: { code: string; message: string };
}

export interface CollectedResult extends CommandResult {
  stdout: Buffer;
  stderr: Buffer;
}

export type SpawnFunction = (
  file: string,
  args: readonly string[],
  options: SpawnOptions,
) => ChildProcess;

/** The side effects come from the composition root; tests pass fakes or the real ones. */
export interface CommandRunnerOptions {
  clock: Clock;
  spawn: SpawnFunction;
  /** Signals a process group (a negative pid). */
  kill: KillFunction;
  /** Running members of a process group (default: read from /proc). */
  groupMembers?: (pgid: number) => readonly unknown[];
  /** What is wrong with a working directory, or null (default: asks the file system). */
  cwdProblem?: (cwd: string) => string | null;
}

/** How often the end of a signalled group is checked (its members are not our children). */
const GROUP_POLL_MS = 10;

/**
 * Spawn errors a bad working directory also gives. The child reports its failed chdir with the
 * same errno as a failed exec, so `spawn /bin/sh ENOENT` may mean a missing cwd.
 */
const CWD_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'ELOOP', 'ENAMETOOLONG']);

/** Why `cwd` cannot be a working directory, as seen by the agent; null when it can. */
export function cwdProblem(cwd: string): string | null {
  try {
    if (!statSync(cwd).isDirectory()) return 'is not a directory';
    accessSync(cwd, constants.X_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'does not exist';
    return `is not accessible (${code ?? 'unknown error'})`;
  }
}

export function shellArgv(line: string): string[] {
  return ['/bin/sh', '-c', line];
}

export class CommandRunner {
  readonly #clock: Clock;
  readonly #spawn: SpawnFunction;
  readonly #kill: KillFunction;
  readonly #groupMembers: (pgid: number) => readonly unknown[];
  readonly #cwdProblem: (cwd: string) => string | null;

  constructor(options: CommandRunnerOptions) {
    this.#clock = options.clock;
    this.#spawn = options.spawn;
    this.#kill = options.kill;
    this.#groupMembers = options.groupMembers ?? ((pgid) => runningMembers(pgid));
    this.#cwdProblem = options.cwdProblem ?? cwdProblem;
  }

  start(
    spec: CommandSpec,
    onOutput: (fd: OutputFd, bytes: Buffer) => void = () => {},
  ): RunningCommand {
    return new RunningCommand(spec, onOutput, {
      clock: this.#clock,
      spawn: this.#spawn,
      kill: this.#kill,
      groupMembers: this.#groupMembers,
      cwdProblem: this.#cwdProblem,
    });
  }

  /** Runs to the end and returns the whole output (bounded by `maxOutputBytes`). */
  async run(spec: CommandSpec, signal?: AbortSignal): Promise<CollectedResult> {
    const parts: Record<OutputFd, Buffer[]> = { stdout: [], stderr: [] };
    const running = this.start(spec, (fd, bytes) => parts[fd].push(bytes));
    const onAbort = (): void => running.cancel();
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await running.result;
      return {
        ...result,
        stdout: Buffer.concat(parts.stdout),
        stderr: Buffer.concat(parts.stderr),
      };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

interface RunningDeps {
  clock: Clock;
  spawn: SpawnFunction;
  kill: KillFunction;
  groupMembers: (pgid: number) => readonly unknown[];
  cwdProblem: (cwd: string) => string | null;
}

export class RunningCommand {
  readonly result: Promise<CommandResult>;
  readonly #spec: CommandSpec;
  readonly #deps: RunningDeps;
  readonly #onOutput: (fd: OutputFd, bytes: Buffer) => void;
  readonly #budget: OutputBudget;
  readonly #startedAt: number;
  #child: ChildProcess | null = null;
  #group: ProcessGroup | null = null;
  #timeoutTimer: TimerHandle | null = null;
  #timedOut = false;
  #cancelled = false;
  #paused = false;
  #finished = false;

  constructor(
    spec: CommandSpec,
    onOutput: (fd: OutputFd, bytes: Buffer) => void,
    deps: RunningDeps,
  ) {
    this.#spec = spec;
    this.#deps = deps;
    this.#onOutput = onOutput;
    this.#budget = new OutputBudget(spec.maxOutputBytes);
    this.#startedAt = deps.clock.now();
    this.result = this.#run();
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** Ends the command's group: SIGTERM, then SIGKILL after the grace (default: the spec's). */
  cancel(graceMs = this.#spec.killGraceMs): void {
    if (this.#finished) return;
    this.#cancelled = true;
    this.#terminate(graceMs);
  }

  /** Stops reading the child's output; the child blocks once its pipe is full. */
  pause(): void {
    if (this.#paused || this.#group?.terminating) return;
    this.#paused = true;
    this.#child?.stdout?.pause();
    this.#child?.stderr?.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#child?.stdout?.resume();
    this.#child?.stderr?.resume();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Writes to the child's stdin; false when it has none or it is closed. `taken` runs once the
   * bytes have left the agent for the child's pipe (what a stdin window counts as consumed).
   */
  write(bytes: Buffer, taken?: () => void): boolean {
    const stdin = this.#child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return false;
    if (taken) stdin.write(bytes, () => taken());
    else stdin.write(bytes);
    return true;
  }

  /** Stdin bytes written and not yet taken by the child's pipe (held in the agent's memory). */
  get inputPending(): number {
    return this.#child?.stdin?.writableLength ?? 0;
  }

  endInput(): boolean {
    const stdin = this.#child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return false;
    stdin.end();
    return true;
  }

  async #run(): Promise<CommandResult> {
    const spec = this.#spec;
    const [file, ...args] = spec.argv;
    const options: SpawnOptions = {
      cwd: spec.cwd,
      env: spec.env,
      // A new session and process group, so the whole tree can be signalled as one.
      detached: true,
      stdio: [spec.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    };
    if (spec.uid !== undefined) options.uid = spec.uid;
    if (spec.gid !== undefined) options.gid = spec.gid;
    let child: ChildProcess;
    try {
      child = this.#deps.spawn(file as string, args, options);
    } catch (err) {
      return this.#failed(err as NodeJS.ErrnoException);
    }
    this.#child = child;
    child.stdin?.on('error', () => {}); // EPIPE when the child stops reading: not our failure
    const closed = childClosed(child);
    if (child.pid !== undefined) {
      this.#group = new ProcessGroup({
        pgid: child.pid,
        clock: this.#deps.clock,
        kill: this.#deps.kill,
        members: this.#deps.groupMembers,
      });
      this.#timeoutTimer = this.#deps.clock.setTimeout(() => {
        this.#timedOut = true;
        this.#terminate(spec.killGraceMs);
      }, spec.timeoutMs);
      this.#read(child.stdout, 'stdout');
      this.#read(child.stderr, 'stderr');
      child.once('exit', () => {
        // The leader is gone; anything it left in its group goes too.
        if (this.#group?.running()) this.#terminate(spec.killGraceMs);
      });
    }
    const end = await closed;
    if (this.#timeoutTimer) this.#deps.clock.clearTimeout(this.#timeoutTimer);
    if (end.error) return this.#failed(end.error);
    await this.#groupGone();
    this.#finished = true;
    return {
      exitCode: end.code,
      signal: end.signal,
      timedOut: this.#timedOut,
      cancelled: this.#cancelled,
      truncated: this.#budget.exceeded,
      durationMs: Math.round(this.#deps.clock.now() - this.#startedAt),
    };
  }

  #read(stream: Readable | null, fd: OutputFd): void {
    stream?.on('data', (bytes: Buffer) => {
      if (this.#budget.exceeded) return; // over the cap: drain and drop until the group ends
      const granted = this.#budget.take(bytes.length);
      if (granted > 0)
        this.#onOutput(fd, granted === bytes.length ? bytes : bytes.subarray(0, granted));
      if (this.#budget.exceeded) this.#terminate(this.#spec.killGraceMs);
    });
  }

  #terminate(graceMs: number): void {
    if (!this.#group) return;
    // Output must flow again, or a paused child's stdio never closes.
    this.resume();
    this.#group.terminate(graceMs);
  }

  /** Waits until no process of a signalled group is left (the SIGKILL timer bounds this). */
  async #groupGone(): Promise<void> {
    const group = this.#group;
    if (!group?.terminating) return;
    while (group.running()) {
      await new Promise<void>((resolve) => this.#deps.clock.setTimeout(resolve, GROUP_POLL_MS));
    }
    group.release();
  }

  #failed(err: NodeJS.ErrnoException): CommandResult {
    this.#finished = true;
    if (this.#timeoutTimer) this.#deps.clock.clearTimeout(this.#timeoutTimer);
    return {
      exitCode: null,
      signal: null,
      timedOut: false,
      cancelled: this.#cancelled,
      truncated: false,
      durationMs: Math.round(this.#deps.clock.now() - this.#startedAt),
      error: { code: err.code ?? 'EUNKNOWN', message: this.#startFailure(err) },
    };
  }

  /** The spawn error in words that name its cause: the cwd when that is what failed. */
  #startFailure(err: NodeJS.ErrnoException): string {
    const cwd = this.#spec.cwd;
    if (cwd === undefined || err.code === undefined || !CWD_ERRORS.has(err.code)) {
      return err.message;
    }
    const problem = this.#deps.cwdProblem(cwd);
    return problem === null ? err.message : `cwd ${JSON.stringify(cwd)} ${problem}`;
  }
}
