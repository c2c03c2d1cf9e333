import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../time/clock.js';
import { LogCode } from '../log/log-codes.js';

/**
 * The systemd watchdog: every `intervalMs` (half of WATCHDOG_USEC) it pets systemd, but only
 * when the process deserves it. A tick that fires more than a whole interval late means the
 * event loop was stalled; `check` names anything else that is wrong (a wedged connection
 * loop). Either withholds the pet, so that systemd restarts an agent that stays unhealthy.
 * A timer, not a hot path: one check and at most one pet per interval.
 */
export interface WatchdogOptions {
  intervalMs: number;
  clock: Clock;
  logger: Logger;
  /** Null when healthy, or why not. */
  check: () => string | null;
  pet: () => void;
}

export class Watchdog {
  readonly #o: WatchdogOptions;
  #timer: TimerHandle | null = null;
  #dueAt = 0;
  /** Why the last tick withheld the pet; logged once per streak. */
  #withheld: string | null = null;

  constructor(options: WatchdogOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#timer === null) this.#arm();
  }

  stop(): void {
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(): void {
    const { clock, intervalMs } = this.#o;
    this.#dueAt = clock.now() + intervalMs;
    this.#timer = clock.setTimeout(() => this.#tick(), intervalMs);
    this.#timer.unref?.(); // the watchdog never keeps the process alive by itself
  }

  #tick(): void {
    const { clock, intervalMs, logger } = this.#o;
    const lateMs = clock.now() - this.#dueAt;
    const problem =
      lateMs > intervalMs
        ? `event loop stalled: watchdog tick ${Math.round(lateMs)} ms late`
        : this.#o.check();
    if (problem === null) {
      if (this.#withheld !== null) logger.info('healthy again; petting the systemd watchdog');
      this.#withheld = null;
      this.#o.pet();
    } else {
      if (this.#withheld === null) logStreakStart(logger, problem);
      this.#withheld = problem;
    }
    this.#arm();
  }
}

function logStreakStart(logger: Logger, problem: string): void {
  logger.warn(
    { code: LogCode.watchdogWithheld },
    `not petting the systemd watchdog: ${problem}; systemd restarts the agent if this lasts`,
  );
}
