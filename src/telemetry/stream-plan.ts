import type { StreamSchedule } from './stream-task.js';
import { DEFAULT_MAX_SILENT_INTERVALS, type StreamSettings } from './stream-specs.js';

/**
 * What to sample and how often, from two wishes: the configuration (streams on by config, each
 * at its interval, through its deadband) and the hub (streams that stream clients subscribed
 * to, each optionally at a faster interval). Pure, so every rule is a unit test:
 *
 * - a stream runs if config turns it on or a client wants it, and the device can provide it;
 * - a subscribed stream runs at the faster of its configured interval and the one asked for,
 *   never faster than `minIntervalMs`;
 * - a subscribed stream sends every sample (the deadband is for unattended uploads: someone
 *   watching live wants the live line).
 */
export interface StreamDemand {
  name: string;
  intervalMs?: number;
}

export interface PlanInput {
  configured: ReadonlySet<string>;
  demand: readonly StreamDemand[];
  available: ReadonlySet<string>;
  intervalMs: number;
  minIntervalMs: number;
  perStream: Readonly<Record<string, StreamSettings>>;
}

export function planStreams(input: PlanInput): Map<string, StreamSchedule> {
  const plan = new Map<string, StreamSchedule>();
  const settingsOf = (name: string): StreamSettings =>
    Object.hasOwn(input.perStream, name) ? (input.perStream[name] as StreamSettings) : {};
  for (const name of input.configured) {
    if (!input.available.has(name)) continue;
    const settings = settingsOf(name);
    plan.set(name, {
      intervalMs: settings.intervalMs ?? input.intervalMs,
      deadband:
        settings.deadband === undefined
          ? null
          : {
              threshold: settings.deadband,
              maxSilentIntervals: settings.maxSilentIntervals ?? DEFAULT_MAX_SILENT_INTERVALS,
            },
    });
  }
  for (const { name, intervalMs: asked } of input.demand) {
    if (!input.available.has(name)) continue;
    const configuredMs = settingsOf(name).intervalMs ?? input.intervalMs;
    const wantedMs = Math.max(input.minIntervalMs, asked ?? configuredMs);
    const current = plan.get(name);
    plan.set(name, {
      intervalMs: Math.min(wantedMs, current?.intervalMs ?? wantedMs),
      deadband: null,
    });
  }
  return plan;
}
