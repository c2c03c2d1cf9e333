import type { StreamDemand } from './subscriptions.js';

/**
 * What a device should send when several want streams from it (the subscriptions of one hub,
 * the wants of the hubs of a fleet): every stream any of them wants, each at the fastest
 * interval asked (a stream wanted without an interval, at the device's own rate, takes another's
 * interval when there is one). Sorted by name, so two unions of the same wants compare equal.
 */
export function unionDemand(lists: Iterable<readonly StreamDemand[]>): StreamDemand[] {
  const fastest = new Map<string, number | undefined>();
  for (const list of lists) {
    for (const { name, interval_ms: asked } of list) {
      const known = fastest.get(name);
      fastest.set(
        name,
        known === undefined || asked === undefined ? (known ?? asked) : Math.min(known, asked),
      );
    }
  }
  return [...fastest.keys()].sort().map((name) => {
    const interval = fastest.get(name);
    return interval === undefined ? { name } : { name, interval_ms: interval };
  });
}
