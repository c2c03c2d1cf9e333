import { APP_EVENTS_STREAM } from '../protocol/apps.js';
import { streamCovers } from '../protocol/fields.js';

/**
 * What a device offers stream clients, as its `hello.capabilities` say: `telemetry:<name>` for
 * every stream it can sample (also those its config leaves off, sampled on demand), and `apps`
 * when it serves local apps, whose events the `apps` stream carries.
 *
 * A subscription names streams; one is offered when it is, or covers, a stream the device lists
 * (`network` covers `network.rx` and `network.tx`).
 */
const TELEMETRY_PREFIX = 'telemetry:';

export interface StreamOffer {
  /** The asked streams the device offers, in the order asked. */
  offered: string[];
  /** The asked streams it does not. */
  unavailable: string[];
}

export function offeredStreams(capabilities: readonly string[]): string[] {
  const streams = capabilities
    .filter((c) => c.startsWith(TELEMETRY_PREFIX))
    .map((c) => c.slice(TELEMETRY_PREFIX.length));
  if (capabilities.includes(APP_EVENTS_STREAM)) streams.push(APP_EVENTS_STREAM);
  return [...new Set(streams)].sort();
}

export function splitByOffer(asked: readonly string[], offered: readonly string[]): StreamOffer {
  const split: StreamOffer = { offered: [], unavailable: [] };
  for (const name of asked) {
    const isOffered = offered.some((stream) => streamCovers(name, stream));
    (isOffered ? split.offered : split.unavailable).push(name);
  }
  return split;
}
