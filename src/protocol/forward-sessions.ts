/**
 * Port forwarding on the wire (docs/protocol.md, "Port forwarding"): a `session_open` of kind
 * `forward` asks the device for one TCP connection to `host:port` as the device sees it; its
 * bytes travel both ways under the session's stream number, each way under a window of
 * SESSION_WINDOW_BYTES (`session_ack` for output, `input_consumed` for input).
 */
import { streamNumber } from './byte-frame.js';
import { deviceId } from './fields.js';
import { literal, number, object, optional, string, type Infer } from './schema.js';

/** A DNS name is at most 253 characters; an IPv6 literal in brackets fits as well. */
export const MAX_FORWARD_HOST_CHARS = 253;

export const FORWARD_KIND = 'forward';

/** The agent's validator of a forward's `session_open` (the hub checked device_id and stream). */
export const forwardOpenPayload = object({
  device_id: optional(deviceId()),
  kind: literal(FORWARD_KIND),
  host: string({
    minLength: 1,
    maxLength: MAX_FORWARD_HOST_CHARS,
    pattern: /^[A-Za-z0-9.:_[\]-]+$/,
  }),
  port: number({ integer: true, min: 1, max: 65_535 }),
  stream: optional(streamNumber()),
});
export type ForwardOpenPayload = Infer<typeof forwardOpenPayload>;
