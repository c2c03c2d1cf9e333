/**
 * Messages the hub sends to a `/v1/stream` client, one validator each: what a client (the
 * console in the browser) checks before it believes a frame. Shapes follow the platform docs;
 * see docs/protocol.md.
 */
import { updateStatePayload } from './updates.js';
import { deviceId, errorCode, errorText, isoTimestamp, streamName } from './fields.js';
import { number, object, optional, string, type Infer } from './schema.js';
import type { ValidatorSet } from './parse.js';
import { commandDonePayload, commandOutputPayload, inputConsumedPayload } from './to-hub.js';
import { sessionDonePayload, sessionOpenedPayload, sessionOutputPayload } from './sessions.js';

const subscriptionId = () => string({ minLength: 1, maxLength: 100 });

export const subscribedPayload = object({ subscription_id: subscriptionId() });

export const clientTelemetryPayload = object({
  subscription_id: subscriptionId(),
  device_id: deviceId(),
  stream: streamName(),
  ts: isoTimestamp(),
  value: number(),
});
export type ClientTelemetryPayload = Infer<typeof clientTelemetryPayload>;
export type CommandOutputPayload = Infer<typeof commandOutputPayload>;
export type CommandDonePayload = Infer<typeof commandDonePayload>;

export const clientErrorPayload = object({
  code: errorCode(),
  message: optional(errorText()),
});

export const toClientValidators: ValidatorSet = {
  subscribed: subscribedPayload,
  unsubscribed: subscribedPayload,
  telemetry: clientTelemetryPayload,
  command_output: commandOutputPayload,
  command_done: commandDonePayload,
  error: clientErrorPayload,
  session_opened: sessionOpenedPayload,
  session_output: sessionOutputPayload,
  session_done: sessionDonePayload,
  // Relayed by the hub under the client's request_id: how many input bytes a session (or a
  // command with stdin) has taken, which moves the sender's window (docs/protocol.md).
  input_consumed: inputConsumedPayload,
  update_state: updateStatePayload,
};
