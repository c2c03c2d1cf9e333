/** The User Timing names the console records (DevTools' Performance panel shows them). */
export const DEVICES_REFRESH_MEASURE = 'console:devices-refresh';
export const DEVICE_SEARCH_MEASURE = 'console:device-search';

/**
 * Records the time since `startedMs` (a `performance.now()`) under `name`, keeping only the
 * last one: the page polls for as long as it is open, and the buffer must not grow with it.
 * bench/console-fleet.ts reads these for a fleet of 10,000 devices.
 */
export function recordTiming(name: string, startedMs: number): void {
  performance.clearMeasures(name);
  performance.measure(name, { start: startedMs, end: performance.now() });
}
