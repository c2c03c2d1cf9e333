/**
 * Messages the hub sends to an agent, one validator each. Capabilities that land later
 * (commands, subscriptions, acknowledgements) add their own entries beside their handlers.
 */
import {
  deviceId,
  errorCode,
  errorText,
  isoTimestamp,
  seqNumber,
  streamName,
  streamIntervalMs,
} from './fields.js';
import { array, boolean, number, object, optional, type Infer } from './schema.js';

export const welcomePayload = object({
  device_id: deviceId(),
  server_time: optional(isoTimestamp()),
  protocol: optional(number({ integer: true, min: 1 })),
  /** The last seq the hub has processed from this device's store; absent: it does not ack. */
  last_seq: optional(seqNumber({ min: 0 })),
  /** The hub speaks binary frames on this link (the agent listed `bytes` in its hello). */
  bytes: optional(boolean()),
});
export type WelcomePayload = Infer<typeof welcomePayload>;

/** Cumulative: the hub has processed every message of this device up to `seq`. */
export const ackPayload = object({ seq: seqNumber({ min: 0 }) });
export type AckPayload = Infer<typeof ackPayload>;

export const errorPayload = object({ code: errorCode(), message: errorText() });
export type ErrorPayload = Infer<typeof errorPayload>;

/**
 * The streams stream clients want from this device right now (the whole set, replacing the
 * previous one), each at the fastest interval any subscription asked for. Sent by the hub when
 * the set changes and right after `welcome` when it is not empty.
 */
export const streamsPayload = object({
  streams: array(object({ name: streamName(), interval_ms: optional(streamIntervalMs()) }), {
    maxItems: 256,
  }),
});
export type StreamsPayload = Infer<typeof streamsPayload>;
