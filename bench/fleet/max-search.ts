/**
 * Which fleet size to try next when looking for the largest one the machine sustains: double
 * from `first` until a size fails, then bisect between the largest that passed and the
 * smallest that failed, a few times. Pure, so the search is tested without running a fleet.
 */
export interface FleetTrial {
  agents: number;
  sustained: boolean;
}

export interface MaxSearchOptions {
  first: number;
  /** No size above this is tried (the open-file limit, say). */
  ceiling: number;
  /** Bisection steps after the first failure. */
  bisections: number;
  /** Sizes are rounded to a multiple of this, and the search stops when the gap is this small. */
  granularity: number;
}

/** The next size to try, or null when the search is done. */
export function nextFleetSize(trials: readonly FleetTrial[], o: MaxSearchOptions): number | null {
  const last = trials.at(-1);
  if (!last) return Math.min(o.first, o.ceiling);
  const passed = largestSustained(trials) ?? 0;
  const failed = trials.filter((t) => !t.sustained).map((t) => t.agents);
  if (failed.length === 0) {
    const next = Math.min(last.agents * 2, o.ceiling);
    return next > last.agents ? next : null;
  }
  const smallestFailed = Math.min(...failed);
  const firstFailure = trials.findIndex((t) => !t.sustained);
  const bisected = trials.length - 1 - firstFailure;
  if (bisected >= o.bisections || smallestFailed - passed <= o.granularity) return null;
  const middle = Math.round((passed + smallestFailed) / 2 / o.granularity) * o.granularity;
  return middle > passed && middle < smallestFailed ? middle : null;
}

/** The largest size that passed and is below every size that failed, or null. */
export function largestSustained(trials: readonly FleetTrial[]): number | null {
  const smallestFailed = Math.min(...trials.filter((t) => !t.sustained).map((t) => t.agents));
  const passed = trials.filter((t) => t.sustained && t.agents < smallestFailed);
  return passed.length === 0 ? null : Math.max(...passed.map((t) => t.agents));
}
