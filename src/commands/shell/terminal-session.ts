import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { childClosed } from '../../process/child-closed.js';
import type { KillFunction } from '../../process/process-group.js';
import { cwdProblem, type SpawnFunction } from '../../process/runner.js';
import { IdleDeadline } from '../../time/idle-deadline.js';
import type { Clock, TimerHandle } from '../../time/clock.js';
import { sttyLine, type TerminalSize } from './terminal-size.js';

/**
 * One interactive terminal on the device, without a native addon: util-linux `script` makes
 * the pseudo-terminal and runs the program on its slave side; the agent talks to `script`
 * through pipes (keystrokes in on its stdin, the terminal's output out on its stdout).
 *
 *     spawned ─▶ slave found (/proc/PID/fd → /dev/pts/N) ─▶ running ─┬─ program exits ─────────┐
 *                                                                    ├─ close / idle / shutdown ─▶ HUP+TERM
 *                                                                    │      every member ─(grace)─▶ KILL
 *                                                                    └──────────────────────────┴─▶ none left ─▶ result
 *
 * The window size is set on the slave (`stty rows R cols C`): first inside the line `script`
 * runs, before the program starts, so it never sees a wrong size; later with `stty -F
 * /dev/pts/N`, after which the kernel sends SIGWINCH to the terminal's foreground job.
 *
 * `script` puts the program in a session of its own (setsid), whose jobs get process groups of
 * their own: signalling one group would miss them. So the session's processes are found in
 * /proc by session id (the program's pid) and by `script`'s group, and each is signalled.
 * Only a process that makes yet another session (a daemon) escapes; so it does under sshd.
 */
export interface TerminalSpec {
  /** A /bin/sh line that runs the program (`exec /bin/bash -l`, a quoted argv, a shell line). */
  programLine: string;
  size: TerminalSize;
  env: Readonly<Record<string, string>>;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** No keystroke, resize or output for this long ends the session (idle); 0: never. */
  idleTimeoutMs: number;
  killGraceMs: number;
}

export interface TerminalResult {
  /** The program's exit status; null when it died by a signal, never started or was ended. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Ended for want of traffic (the idle timeout). */
  idle: boolean;
  /** Ended by `close()` (the client, its disconnect, agent shutdown). */
  closed: boolean;
  durationMs: number;
  /** Set when `script` could not be started. */
  error?: { code: string; message: string };
}

/** What the session needs from /proc, injected so that tests can use a fake tree. */
export interface TerminalProc {
  /** The fd links of a process (`/proc/PID/fd/*`), empty when it is gone. */
  fdTargets(pid: number): string[];
  /** The first child of a process, or null. */
  firstChild(pid: number): number | null;
  /** Pids of running processes in session `sid` or process group `pgid`. */
  members(sid: number, pgid: number): number[];
}

export interface TerminalDeps {
  clock: Clock;
  spawn: SpawnFunction;
  kill: KillFunction;
  proc: TerminalProc;
  /** Runs `stty -F TTY rows R cols C` (a program: no ioctl from Node without an addon). */
  setSize: (tty: string, size: TerminalSize) => Promise<void>;
  scriptPath: string;
  sttyPath: string;
}

/** Keystrokes waiting for `script` to read them; more is dropped (a terminal is typed into). */
export const MAX_INPUT_BUFFER_BYTES = 256 * 1024;
/** How often the slave is looked for after the spawn, and for how long at most. */
const DISCOVERY_POLL_MS = 5;
const DISCOVERY_LIMIT_MS = 5_000;
/** How often the end of an ended session is checked (its members are not our children). */
const MEMBERS_POLL_MS = 10;

export class TerminalSession {
  readonly result: Promise<TerminalResult>;
  readonly #spec: TerminalSpec;
  readonly #deps: TerminalDeps;
  readonly #onOutput: (bytes: Buffer) => void;
  readonly #startedAt: number;
  #child: ChildProcess | null = null;
  #tty: string | null = null;
  #sid: number | null = null;
  /** A size asked for before the slave was found, or while a `stty` runs: applied next. */
  #pendingSize: TerminalSize | null = null;
  #sizing = false;
  /** No keystroke, resize or output for the idle timeout ends the session. */
  readonly #idleDeadline: IdleDeadline;
  #killTimer: TimerHandle | null = null;
  #ending = false;
  #idle = false;
  #closed = false;
  #paused = false;
  #finished = false;

  /** Starts the terminal's process; its output goes to `onOutput` as `script` writes it. */
  static start(
    spec: TerminalSpec,
    deps: TerminalDeps,
    onOutput: (bytes: Buffer) => void,
  ): TerminalSession {
    return new TerminalSession(spec, deps, onOutput);
  }

  private constructor(spec: TerminalSpec, deps: TerminalDeps, onOutput: (bytes: Buffer) => void) {
    this.#spec = spec;
    this.#deps = deps;
    this.#onOutput = onOutput;
    this.#startedAt = deps.clock.now();
    this.#idleDeadline = new IdleDeadline(deps.clock, spec.idleTimeoutMs, () => {
      if (this.#ending) return;
      this.#idle = true;
      this.#end(this.#spec.killGraceMs);
    });
    this.result = this.#run();
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The slave's path (`/dev/pts/N`) once found. */
  get tty(): string | null {
    return this.#tty;
  }

  get finished(): boolean {
    return this.#finished;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Keystrokes to the terminal; false when dropped (the session ended, or input backed up). */
  write(bytes: Buffer): boolean {
    const stdin = this.#child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded || this.#ending) return false;
    if (stdin.writableLength + bytes.length > MAX_INPUT_BUFFER_BYTES) return false;
    this.#touch();
    stdin.write(bytes);
    return true;
  }

  /** A new window size; the program in the foreground gets SIGWINCH. */
  resize(size: TerminalSize): void {
    if (this.#ending) return;
    this.#touch();
    this.#pendingSize = size;
    void this.#applySize();
  }

  /** Stops reading the terminal's output; the program blocks once the pipes are full. */
  pause(): void {
    if (this.#paused || this.#ending) return;
    this.#paused = true;
    this.#child?.stdout?.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#child?.stdout?.resume();
  }

  /** Ends every process of the session: HUP and TERM now, KILL after the grace. */
  close(graceMs = this.#spec.killGraceMs): void {
    if (this.#finished) return;
    this.#closed = true;
    this.#end(graceMs);
  }

  async #run(): Promise<TerminalResult> {
    const spec = this.#spec;
    const line = `${sttyLine(this.#deps.sttyPath, spec.size)}; ${spec.programLine}`;
    // -q: no banners; -e: the program's exit status; -f: flush every write; no typescript file.
    const args = ['-q', '-e', '-f', '-c', line, '/dev/null'];
    const options: SpawnOptions = {
      cwd: spec.cwd,
      // `script` runs the line with `$SHELL -c`: /bin/sh, whatever the environment says.
      env: { ...spec.env, SHELL: '/bin/sh' },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    };
    if (spec.uid !== undefined) options.uid = spec.uid;
    if (spec.gid !== undefined) options.gid = spec.gid;
    let child: ChildProcess;
    try {
      child = this.#deps.spawn(this.#deps.scriptPath, args, options);
    } catch (err) {
      return this.#failed(err as NodeJS.ErrnoException);
    }
    this.#child = child;
    child.stdin?.on('error', () => {}); // EPIPE once `script` is gone: not our failure
    const closed = childClosed(child);
    if (child.pid !== undefined) {
      const pid = child.pid;
      child.stdout?.on('data', (bytes: Buffer) => {
        this.#touch();
        this.#onOutput(bytes);
      });
      // `script`'s own complaints (a bad cwd, no pty left) are what the user should see.
      child.stderr?.on('data', (bytes: Buffer) => this.#onOutput(bytes));
      child.once('exit', () => {
        // The program has ended; whatever it left running in its terminal goes too.
        if (!this.#ending) this.#end(this.#spec.killGraceMs);
      });
      this.#touch();
      void this.#discover(pid);
    }
    const end = await closed;
    this.#clearIdle();
    if (end.error) return this.#failed(end.error);
    await this.#membersGone();
    this.#finished = true;
    return {
      exitCode: this.#closed || this.#idle ? null : end.code,
      signal: end.signal,
      idle: this.#idle,
      closed: this.#closed,
      durationMs: Math.round(this.#deps.clock.now() - this.#startedAt),
    };
  }

  /** Finds the slave among `script`'s descriptors and the program's pid (its session id). */
  async #discover(pid: number): Promise<void> {
    const deadline = this.#deps.clock.now() + DISCOVERY_LIMIT_MS;
    while (!this.#finished && this.#deps.clock.now() < deadline) {
      const tty = this.#deps.proc.fdTargets(pid).find((target) => /^\/dev\/pts\/\d+$/.test(target));
      const sid = this.#deps.proc.firstChild(pid);
      if (tty !== undefined && sid !== null) {
        this.#tty = tty;
        this.#sid = sid;
        if (this.#pendingSize) void this.#applySize();
        return;
      }
      await this.#sleep(DISCOVERY_POLL_MS);
    }
  }

  /** One `stty` at a time; the latest size asked for wins. */
  async #applySize(): Promise<void> {
    const tty = this.#tty;
    if (tty === null || this.#sizing) return;
    this.#sizing = true;
    try {
      while (this.#pendingSize && !this.#ending) {
        const size = this.#pendingSize;
        this.#pendingSize = null;
        await this.#deps.setSize(tty, size).catch(() => {});
      }
    } finally {
      this.#sizing = false;
    }
  }

  /** A keystroke and its echo are on the round trip an operator waits for: a touch is cheap. */
  #touch(): void {
    if (!this.#ending) this.#idleDeadline.touch();
  }

  #clearIdle(): void {
    this.#idleDeadline.stop();
  }

  /**
   * A hangup, as when a terminal goes away, and SIGTERM, to every process of the session; what
   * is left gets SIGKILL after `graceMs`. A second call may only shorten the grace.
   */
  #end(graceMs: number): void {
    const first = !this.#ending;
    this.#ending = true;
    this.#clearIdle();
    // Output must flow again, or a paused `script` never closes its end of the pipe.
    this.resume();
    if (graceMs <= 0) {
      this.#signalAll('SIGKILL');
      return;
    }
    if (!first) return;
    this.#signalAll('SIGHUP');
    this.#signalAll('SIGTERM');
    this.#killTimer = this.#deps.clock.setTimeout(() => this.#signalAll('SIGKILL'), graceMs);
  }

  #members(): number[] {
    const pid = this.#child?.pid;
    if (pid === undefined) return [];
    const members = this.#deps.proc.members(this.#sid ?? pid, pid);
    // `script` itself until it has been reaped (it is our child, /proc may lag).
    if (this.#child?.exitCode === null && this.#child.signalCode === null && !members.includes(pid))
      members.push(pid);
    return members;
  }

  #signalAll(signal: NodeJS.Signals): void {
    for (const pid of this.#members()) {
      try {
        this.#deps.kill(pid, signal);
      } catch {
        // gone since it was listed
      }
    }
  }

  /** Waits until no process of the session runs (the SIGKILL timer bounds this). */
  async #membersGone(): Promise<void> {
    if (this.#members().length > 0 && !this.#ending) this.#end(this.#spec.killGraceMs);
    while (this.#members().length > 0) await this.#sleep(MEMBERS_POLL_MS);
    if (this.#killTimer) this.#deps.clock.clearTimeout(this.#killTimer);
    this.#killTimer = null;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#deps.clock.setTimeout(resolve, ms));
  }

  /** A failed chdir looks like a failed exec (`spawn /usr/bin/script ENOENT`): name the cwd. */
  #startFailure(err: NodeJS.ErrnoException): string {
    const cwd = this.#spec.cwd;
    const problem = cwd === undefined ? null : cwdProblem(cwd);
    return problem === null ? err.message : `cwd ${JSON.stringify(cwd)} ${problem}`;
  }

  #failed(err: NodeJS.ErrnoException): TerminalResult {
    this.#finished = true;
    this.#clearIdle();
    return {
      exitCode: null,
      signal: null,
      idle: false,
      closed: this.#closed,
      durationMs: Math.round(this.#deps.clock.now() - this.#startedAt),
      error: { code: err.code ?? 'EUNKNOWN', message: this.#startFailure(err) },
    };
  }
}
