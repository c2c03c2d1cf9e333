import { APPS_CHANNEL } from '../../protocol/apps.js';
import { Channel } from '../../protocol/message.js';
import type { WebhookMessage } from '../webhooks/webhook-message.js';
import type { CommandResultView } from './command-results.js';

/**
 * A Command API result that no HTTP request waited for, as webhooks of Type `iottly` receive
 * it: the platform's envelope of a device message, shaped as the device's own `command_done`
 * (or `app_command_done`) would be, with the API's `request_id` and, for a command, its output:
 *
 *     { "msg": { "from": "dev1", "timestamp": "…", "devicetimestamp": null, "type": "iottly",
 *                "channel": "commands", "message_type": "command_done", "request_id": "cmd_…",
 *                "payload": { "exit_code": 0, …, "stdout": "…", "stderr": "" } } }
 *
 * `devicetimestamp` is null: the result is the hub's collection of several device frames.
 */
export function resultWebhookMessage(view: CommandResultView, receivedAt: string): WebhookMessage {
  const command = view.type === 'command';
  return {
    from: view.device_id,
    timestamp: receivedAt,
    devicetimestamp: null,
    type: 'iottly',
    channel: command ? Channel.commands : APPS_CHANNEL,
    message_type: command ? 'command_done' : 'app_command_done',
    request_id: view.request_id,
    payload: view.result ?? {},
  };
}
