import { decodeJson } from '../../protocol/bounded-json.js';
import { isoTimestamp, seqNumber, streamIntervalMs, streamName } from '../../protocol/fields.js';
import { MAX_FRAME_BYTES } from '../../protocol/message.js';
import { array, boolean, object, optional, string, type Validator } from '../../protocol/schema.js';
import { helloPayload, type HelloPayload } from '../../protocol/to-hub.js';
import type { StreamDemand } from '../subscriptions.js';

/**
 * The retained payloads hubs read from the broker (docs/protocol.md, "MQTT 5 transport"): a
 * device's presence and cursor, a hub's presence and wants. Each is bounded in bytes (and
 * depth, by the bounded JSON decoder) before it is decoded, and validated after: anyone who may
 * publish under the prefix can send anything. An empty payload is a retained message cleared.
 */
export type Decoded<T> = { ok: true; value: T | null } | { ok: false; error: string };

/** Presence is the largest (it carries the hello); the others are small. */
const MAX_PRESENCE_BYTES = MAX_FRAME_BYTES;
const MAX_SMALL_BYTES = 64 * 1024;
/** Streams one hub may want from one device (a subscription names at most 64). */
const MAX_WANTED_STREAMS = 256;

export interface PresencePayload {
  online: boolean;
  since: string;
  hello: HelloPayload | null;
}

export interface CursorPayload {
  store_id: string;
  last_seq: number;
}

const presenceShape = object({
  online: boolean(),
  since: isoTimestamp(),
  hello: optional(helloPayload),
});

const cursorShape = object({
  // '' is a store the hello did not name (an agent without a spool identity).
  store_id: string({ pattern: /^[A-Za-z0-9_-]{0,64}$/ }),
  last_seq: seqNumber({ min: 0 }),
});

const hubPresenceShape = object({ online: boolean() });

const wantsShape = object({
  streams: array(object({ name: streamName(), interval_ms: optional(streamIntervalMs()) }), {
    maxItems: MAX_WANTED_STREAMS,
  }),
});

export function decodePresence(payload: Buffer): Decoded<PresencePayload> {
  return decode(payload, MAX_PRESENCE_BYTES, presenceShape, (p) => ({
    online: p.online,
    since: p.since,
    hello: p.hello ?? null,
  }));
}

export function decodeCursor(payload: Buffer): Decoded<CursorPayload> {
  return decode(payload, MAX_SMALL_BYTES, cursorShape, (c) => c);
}

/** A hub's presence: only whether it is there counts. */
export function decodeHubPresence(payload: Buffer): Decoded<true> {
  return decode(payload, MAX_SMALL_BYTES, hubPresenceShape, (p) => (p.online ? true : null));
}

export function decodeWants(payload: Buffer): Decoded<StreamDemand[]> {
  return decode(payload, MAX_SMALL_BYTES, wantsShape, (w) =>
    w.streams.map((s) =>
      s.interval_ms === undefined ? { name: s.name } : { name: s.name, interval_ms: s.interval_ms },
    ),
  );
}

function decode<S, T>(
  payload: Buffer,
  maxBytes: number,
  validate: Validator<S>,
  take: (value: S) => T | null,
): Decoded<T> {
  if (payload.length === 0) return { ok: true, value: null };
  if (payload.length > maxBytes) return { ok: false, error: `larger than ${maxBytes} bytes` };
  const json = decodeJson(payload.toString('utf8'), { maxBytes });
  if (!json.ok) return { ok: false, error: json.message };
  const result = validate(json.value, 'payload');
  return result.ok ? { ok: true, value: take(result.value) } : { ok: false, error: result.error };
}
