/**
 * Growth of a figure over a soak, with a bound that a short run on a noisy machine cannot trip
 * by chance.
 *
 * Why window minima: a Node process's resident memory is a saw — the heap fills between
 * collections, a backlog drain or a command's output burst lifts it for seconds. The lowest
 * value in each window is the floor the process falls back to; a leak lifts that floor, noise
 * mostly does not. Minima of successive windows are also much less correlated than the raw
 * samples, which is what the least-squares confidence interval below assumes.
 *
 * Why a lower confidence bound: a least-squares slope through a few minutes of minima still
 * wobbles by several MiB/h. Failing on the slope itself would flake; failing only when even the
 * lower bound of its one-sided 99 % interval exceeds the limit means "this grows faster than the
 * limit, and chance is a poor explanation". A short run therefore catches gross leaks only; the
 * interval narrows as the run gets longer (a 60-minute run pins the slope to about 1 MiB/h).
 */
export interface TimedValue {
  tMs: number;
  value: number;
}

export interface Growth {
  /** Least-squares slope of the window minima, per hour. */
  perHour: number;
  /** Lower and upper one-sided 99 % bounds of that slope, per hour (NaN with < 3 windows). */
  lowerPerHour: number;
  upperPerHour: number;
  windows: number;
}

const HOUR_MS = 3_600_000;

/** The lowest value in each full window of `windowMs` from `fromMs` on, at the window's middle. */
export function windowMinima(
  samples: readonly TimedValue[],
  fromMs: number,
  windowMs: number,
): TimedValue[] {
  const minima = new Map<number, number>();
  let lastWindow = -1;
  for (const { tMs, value } of samples) {
    if (tMs < fromMs) continue;
    const index = Math.floor((tMs - fromMs) / windowMs);
    minima.set(index, Math.min(minima.get(index) ?? Infinity, value));
    lastWindow = Math.max(lastWindow, index);
  }
  // The last window is partial unless a sample fell on its end: leave it out.
  const end = samples.at(-1)?.tMs ?? fromMs;
  if (end < fromMs + (lastWindow + 1) * windowMs) minima.delete(lastWindow);
  return [...minima.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, value]) => ({ tMs: fromMs + (index + 0.5) * windowMs, value }));
}

/** Slope of `points` per hour, with its one-sided 99 % bounds. */
export function slopePerHour(points: readonly TimedValue[]): Growth {
  const n = points.length;
  if (n < 2) return { perHour: Number.NaN, lowerPerHour: NaN, upperPerHour: NaN, windows: n };
  const meanT = points.reduce((sum, p) => sum + p.tMs, 0) / n;
  const meanV = points.reduce((sum, p) => sum + p.value, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.tMs - meanT) ** 2;
    sxy += (p.tMs - meanT) * (p.value - meanV);
  }
  const slope = sxy / sxx;
  if (n < 3) return { perHour: slope * HOUR_MS, lowerPerHour: NaN, upperPerHour: NaN, windows: n };
  const residuals = points.reduce(
    (sum, p) => sum + (p.value - meanV - slope * (p.tMs - meanT)) ** 2,
    0,
  );
  const standardError = Math.sqrt(residuals / (n - 2) / sxx);
  const margin = studentT99(n - 2) * standardError;
  return {
    perHour: slope * HOUR_MS,
    lowerPerHour: (slope - margin) * HOUR_MS,
    upperPerHour: (slope + margin) * HOUR_MS,
    windows: n,
  };
}

export function growthOf(samples: readonly TimedValue[], fromMs: number, windowMs: number): Growth {
  return slopePerHour(windowMinima(samples, fromMs, windowMs));
}

/** One-sided 99 % quantiles of Student's t by degrees of freedom (1–30), then 40, 60, 120. */
const T99: ReadonlyArray<readonly [number, number]> = [
  [1, 31.821],
  [2, 6.965],
  [3, 4.541],
  [4, 3.747],
  [5, 3.365],
  [6, 3.143],
  [7, 2.998],
  [8, 2.896],
  [9, 2.821],
  [10, 2.764],
  [11, 2.718],
  [12, 2.681],
  [13, 2.65],
  [14, 2.624],
  [15, 2.602],
  [16, 2.583],
  [17, 2.567],
  [18, 2.552],
  [19, 2.539],
  [20, 2.528],
  [21, 2.518],
  [22, 2.508],
  [23, 2.5],
  [24, 2.492],
  [25, 2.485],
  [26, 2.479],
  [27, 2.473],
  [28, 2.467],
  [29, 2.462],
  [30, 2.457],
  [40, 2.423],
  [60, 2.39],
  [120, 2.358],
];

/** The quantile at the largest tabulated df not above `df`: never narrower than the truth. */
export function studentT99(df: number): number {
  let quantile = Number.POSITIVE_INFINITY;
  for (const [tableDf, value] of T99) if (tableDf <= df) quantile = value;
  return quantile;
}
