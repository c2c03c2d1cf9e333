import { ErrorCode } from '../protocol/error-codes.js';
import type { Message } from '../protocol/message.js';
import type { FrameError } from '../protocol/parse.js';

/**
 * Every `command` a stream client sends ends with exactly one `command_done` for it. A client
 * written from the platform docs alone knows `command_output` and `command_done`, not the
 * hub's `error` frame: a command that failed with an `error` only would keep it waiting for
 * ever. So a failed command gets its `error` (for clients that know it), then a
 * `command_done` that carries the same error:
 *
 *     { "type": "command_done", "request_id": "cmd-1",
 *       "payload": { "exit_code": null, "error": { "code": "device_offline", "message": "…" } } }
 *
 * Whoever ends the command sends it: the client's peer when it refuses a `command` frame,
 * the broker when it relays the agent's `error` for a command or ends a forwarded command.
 *
 * A `duplicate_request` refusal gets the `error` only: the client's earlier command with that
 * request_id is still running and ends with its own `command_done`; a second one under the
 * same request_id would end it early for the client, and then a third would follow.
 */
export function failedCommandDone(
  error: { code: string; message: string },
  requestId: string | undefined,
): Message {
  const done: Message = {
    type: 'command_done',
    payload: { exit_code: null, error: { code: error.code, message: error.message } },
  };
  if (requestId !== undefined) done.request_id = requestId;
  return done;
}

/**
 * A shell session ends the same way: exactly one `session_done` per `session_open`, carrying
 * the error when the session failed or was refused.
 */
export function failedSessionDone(
  error: { code: string; message: string },
  requestId: string | undefined,
): Message {
  const done: Message = {
    type: 'session_done',
    payload: { exit_code: null, error: { code: error.code, message: error.message } },
  };
  if (requestId !== undefined) done.request_id = requestId;
  return done;
}

/** The ending a failed request of this kind gets, or null for kinds that have none. */
export function failedEnding(
  kind: string,
  error: { code: string; message: string },
  requestId: string | undefined,
): Message | null {
  if (kind === 'command') return failedCommandDone(error, requestId);
  if (kind === 'session') return failedSessionDone(error, requestId);
  return null;
}

/** The ending that follows the refusal of a client's frame, or null when none does. */
export function refusalEnding(refusal: FrameError): Message | null {
  if (refusal.code === ErrorCode.duplicateRequest) return null;
  if (refusal.type === 'command') return failedCommandDone(refusal, refusal.request_id);
  if (refusal.type === 'session_open') return failedSessionDone(refusal, refusal.request_id);
  return null;
}
