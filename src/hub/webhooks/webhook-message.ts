import { USER_MESSAGE_TYPE } from '../../protocol/apps.js';
import type { ParsedFrame } from '../../protocol/parse.js';
import { isPlainObject } from '../../protocol/schema.js';
import type { MessageKind, Webhook } from './webhook.js';

/**
 * A device message as webhooks receive it, in the platform's envelope:
 *
 *     { "msg": { "from", "timestamp", "devicetimestamp", "type", "channel", "payload", … } }
 *
 * `from` is the device id, `timestamp` the hub's receive time and `devicetimestamp` the
 * device's (`ts`), so the platform's published receiver example reads it unchanged. `type` is
 * `user` for an app's data (and `payload` is the app's own object, `app` its name), `iottly`
 * for everything the agent produces itself (`message_type` says which: telemetry, app_error, …).
 */
export interface WebhookMessage {
  from: string;
  timestamp: string;
  devicetimestamp: string | null;
  type: MessageKind;
  channel: string | null;
  message_type: string;
  payload: Record<string, unknown>;
  app?: string;
  /**
   * Only on a Command API result (`command_done`, `app_command_done` that no HTTP request waited
   * for): the id the API gave the command. A device's own frames go without one: the hub's id
   * towards the device means nothing to a receiver.
   */
  request_id?: string;
}

export function webhookMessage(
  deviceId: string,
  frame: ParsedFrame,
  receivedAt: string,
): WebhookMessage {
  const { raw } = frame;
  const payload = isPlainObject(raw.payload) ? raw.payload : frame.payload;
  const msg: WebhookMessage = {
    from: deviceId,
    timestamp: receivedAt,
    devicetimestamp: typeof raw.ts === 'string' ? raw.ts : null,
    type: frame.type === USER_MESSAGE_TYPE ? 'user' : 'iottly',
    channel: typeof raw.channel === 'string' ? raw.channel : null,
    message_type: frame.type,
    payload,
  };
  if (msg.type === 'user') {
    // The hub validated `user` frames: { app, payload }.
    msg.app = String(payload.app);
    msg.payload = payload.payload as Record<string, unknown>;
  }
  return msg;
}

/** Whether the webhook takes this message: its type, and its channel when it names one. */
export function wants(webhook: Webhook, msg: WebhookMessage): boolean {
  if (webhook.type !== msg.type) return false;
  return webhook.channel === undefined || webhook.channel === msg.channel;
}

/** The request body: `{"msg": …}`, or the payload alone for a payload-only webhook. */
export function webhookBody(webhook: Webhook, msg: WebhookMessage): string {
  return JSON.stringify(webhook.payload_only ? msg.payload : { msg });
}
