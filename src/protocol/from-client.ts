/**
 * Messages a `/v1/stream` client (the platform's backend API) sends to the hub.
 * Shapes follow the platform docs exactly; see docs/protocol.md.
 */
import { appCommandRequest } from './apps.js';
import { deviceId, streamIntervalMs, streamName } from './fields.js';
import { array, object, optional, string, type Infer } from './schema.js';
import type { ValidatorSet } from './parse.js';
import {
  sessionAckPayload,
  sessionClosePayload,
  sessionForwardPayload,
  sessionInputPayload,
  sessionResizePayload,
} from './sessions.js';
import { streamNumber } from './byte-frame.js';
import { updateRequestPayload } from './update-request.js';

export const subscribePayload = object({
  device_id: deviceId(),
  streams: array(streamName(), { maxItems: 64 }),
  /** Our addition: sample these streams this often (bounded by the agent's configuration). */
  interval_ms: optional(streamIntervalMs()),
});
export type SubscribePayload = Infer<typeof subscribePayload>;

export const unsubscribePayload = object({
  subscription_id: string({ minLength: 1, maxLength: 100 }),
});

/**
 * The hub forwards a command by `device_id` alone and relays the whole payload; the agent,
 * which knows what it can run, validates the rest.
 */
export const commandForwardPayload = object({
  device_id: deviceId(),
  /**
   * The client wants the output as binary frames under this number (its own, unique among its
   * open requests), and may send stdin the same way. Absent: JSON `command_output`, as ever.
   */
  stream: optional(streamNumber()),
});

/**
 * `command_cancel` / `command_input` name the running command by the client's request_id: in
 * the payload, or else the envelope's. The hub checks that one is given; the agent the rest.
 */
export const commandFollowUpPayload = object({
  request_id: optional(string({ minLength: 1, maxLength: 200 })),
});

export const fromClientValidators: ValidatorSet = {
  subscribe: subscribePayload,
  unsubscribe: unsubscribePayload,
  command: commandForwardPayload,
  command_cancel: commandFollowUpPayload,
  command_input: commandFollowUpPayload,
  app_command: appCommandRequest,
  session_open: sessionForwardPayload,
  session_input: sessionInputPayload,
  session_resize: sessionResizePayload,
  session_close: sessionClosePayload,
  session_ack: sessionAckPayload,
  update_request: updateRequestPayload,
};
