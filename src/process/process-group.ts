import type { Clock, TimerHandle } from '../time/clock.js';

/**
 * Ends a command's whole process group: SIGTERM to every member, then SIGKILL to whatever is
 * left after the grace period. Signalling `-pgid` reaches grandchildren the leader forked (a
 * `sleep &` in a shell line), which signalling the leader alone would leave behind.
 */
export type KillFunction = (pid: number, signal: NodeJS.Signals | 0) => void;

export const killProcess: KillFunction = (pid, signal) => process.kill(pid, signal);

export interface ProcessGroupOptions {
  pgid: number;
  clock: Clock;
  kill: KillFunction;
  /** Running (non-zombie) members of a group (`runningMembers` reads them from /proc). */
  members: (pgid: number) => readonly unknown[];
}

export class ProcessGroup {
  readonly pgid: number;
  readonly #clock: Clock;
  readonly #kill: KillFunction;
  readonly #members: (pgid: number) => readonly unknown[];
  #killTimer: TimerHandle | null = null;
  #terminating = false;

  constructor(options: ProcessGroupOptions) {
    this.pgid = options.pgid;
    this.#clock = options.clock;
    this.#kill = options.kill;
    this.#members = options.members;
  }

  get terminating(): boolean {
    return this.#terminating;
  }

  /** Sends `signal` to every member; false when none is left (ESRCH). */
  signal(signal: NodeJS.Signals | 0): boolean {
    try {
      this.#kill(-this.pgid, signal);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw err;
    }
  }

  /** True while any process of the group is alive (zombies included, until reaped). */
  alive(): boolean {
    return this.signal(0);
  }

  /** True while a member runs; a group of zombies waiting for init to reap them is done. */
  running(): boolean {
    return this.alive() && this.#members(this.pgid).length > 0;
  }

  /**
   * SIGTERM now, SIGKILL after `graceMs` unless `release()` came first. A second call only
   * shortens the grace (shutdown may hurry a timeout already under way).
   */
  terminate(graceMs: number): void {
    if (this.#terminating && graceMs > 0) return;
    this.#terminating = true;
    if (graceMs <= 0) {
      this.#forceKill();
      return;
    }
    if (!this.signal('SIGTERM')) return;
    this.#killTimer = this.#clock.setTimeout(() => this.#forceKill(), graceMs);
  }

  /** Stops the pending SIGKILL (the group is gone). */
  release(): void {
    if (this.#killTimer) this.#clock.clearTimeout(this.#killTimer);
    this.#killTimer = null;
  }

  #forceKill(): void {
    this.release();
    this.signal('SIGKILL');
  }
}
