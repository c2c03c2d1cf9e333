import { number, string } from './schema.js';

/** Device ids are used in URLs, logs and file names: keep them to a safe alphabet. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const deviceId = () => string({ pattern: DEVICE_ID_PATTERN });
export const streamName = () => string({ pattern: /^[A-Za-z0-9._-]{1,64}$/ });
/** A sampling interval a subscription may ask for (the agent raises it to its own minimum). */
export const streamIntervalMs = () => number({ integer: true, min: 1, max: 86_400_000 });
export const isoTimestamp = () =>
  string({ pattern: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/ });
export const errorCode = () => string({ minLength: 1, maxLength: 100 });
export const errorText = () => string({ maxLength: 10_000 });

/** A `request_id`, as the envelope carries it. */
export const requestId = () => string({ minLength: 1, maxLength: 200 });

/** Message sequence numbers: integers up to 2^48 (they are stored in 6 bytes). */
export const MAX_SEQ = 2 ** 48 - 1;
export const seqNumber = ({ min = 1 }: { min?: number } = {}) =>
  number({ integer: true, min, max: MAX_SEQ });
/** A spool's identity, made when the spool is created. */
export const storeId = () => string({ pattern: /^[A-Za-z0-9_-]{8,64}$/ });

/**
 * Stream names are hierarchical: a subscription to `network` covers `network.rx` and
 * `network.tx`. True when a subscription to `subscribed` receives frames of `stream`.
 */
export function streamCovers(subscribed: string, stream: string): boolean {
  return (
    stream === subscribed ||
    (stream.length > subscribed.length &&
      stream.startsWith(subscribed) &&
      stream[subscribed.length] === '.')
  );
}
