/**
 * Messages a `/v1/stream` client (the platform's backend API) sends to the hub.
 * Shapes follow the platform docs exactly; see docs/protocol.md.
 */
import { appCommandRequest } from './apps.js';
import { deviceId, streamName } from './fields.js';
import { array, object, string, type Infer } from './schema.js';
import type { ValidatorSet } from './parse.js';

export const subscribePayload = object({
  device_id: deviceId(),
  streams: array(streamName(), { maxItems: 64 }),
});
export type SubscribePayload = Infer<typeof subscribePayload>;

export const unsubscribePayload = object({
  subscription_id: string({ minLength: 1, maxLength: 100 }),
});

/**
 * The hub routes a command on `device_id` alone and relays the whole payload; the agent, which
 * knows what it can run, validates the rest.
 */
export const commandRoutingPayload = object({ device_id: deviceId() });

export const fromClientValidators: ValidatorSet = {
  subscribe: subscribePayload,
  unsubscribe: unsubscribePayload,
  command: commandRoutingPayload,
  app_command: appCommandRequest,
};
