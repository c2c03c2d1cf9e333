/**
 * Reconnect delays, as pure functions of the attempt number and a random source.
 *
 * Exponential from `initialDelayMs`, doubling to `maxDelayMs`, with "equal jitter": the delay
 * is uniformly drawn from [cap/2, cap]. Half of the wait is guaranteed (so a fleet never comes
 * back faster than the schedule), the other half spreads devices so they do not reconnect in
 * lockstep after a hub restart.
 */
export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
}

/** A number in [0, 1), as Math.random gives. */
export type RandomSource = () => number;

/** The un-jittered ceiling for the given attempt (0 = first retry). */
export function backoffCeiling(
  attempt: number,
  { initialDelayMs, maxDelayMs }: BackoffOptions,
): number {
  // 2 ** 40 overflows no double and is far past any sane cap, so clamp the exponent first.
  const exponent = Math.min(Math.max(attempt, 0), 40);
  return Math.min(maxDelayMs, initialDelayMs * 2 ** exponent);
}

export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: RandomSource,
): number {
  const ceiling = backoffCeiling(attempt, options);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * After a clean "server restart" close (1001) of a healthy link the hub is coming back soon:
 * wait around the initial delay, spread over [initial/2, initial*1.5).
 */
export function restartDelay({ initialDelayMs }: BackoffOptions, random: RandomSource): number {
  return Math.round(initialDelayMs * (0.5 + random()));
}

/** Credentials were refused: retrying sooner cannot help and would hammer the hub. */
export function authRejectedDelay({ maxDelayMs }: BackoffOptions, random: RandomSource): number {
  return Math.round(maxDelayMs * (0.75 + random() * 0.25));
}
