/**
 * Time as a dependency. Everything that waits or timestamps takes a Clock, so unit tests can
 * drive heartbeats and back-off with a fake one instead of sleeping.
 */
export interface TimerHandle {
  /** Keeps a pending timer from holding the process open. */
  unref?(): void;
}

export interface Clock {
  /** Milliseconds on a monotonic scale, for measuring intervals. */
  now(): number;
  /** Wall-clock time, for timestamps that leave the process. */
  date(): Date;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  date: () => new Date(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** ISO-8601 UTC with milliseconds, as the platform's frames use. */
export function isoNow(clock: Clock): string {
  return clock.date().toISOString();
}
