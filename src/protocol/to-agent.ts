/**
 * Messages the hub sends to an agent, one validator each. Capabilities that land later
 * (commands, subscriptions, acknowledgements) add their own entries beside their handlers.
 */
import { deviceId, errorCode, errorText, isoTimestamp } from './fields.js';
import { number, object, optional, type Infer } from './schema.js';

export const welcomePayload = object({
  device_id: deviceId(),
  server_time: optional(isoTimestamp()),
  protocol: optional(number({ integer: true, min: 1 })),
});
export type WelcomePayload = Infer<typeof welcomePayload>;

export const errorPayload = object({ code: errorCode(), message: errorText() });
export type ErrorPayload = Infer<typeof errorPayload>;
