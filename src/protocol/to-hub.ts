/** Messages an agent sends to the hub, one validator each (the hub validates every frame). */
import {
  appCallDonePayload,
  appCallPayload,
  appCommandDonePayload,
  appErrorPayload,
  userPayload,
} from './apps.js';
import {
  deviceId,
  errorCode,
  errorText,
  isoTimestamp,
  requestId,
  seqNumber,
  storeId,
  streamName,
} from './fields.js';
import { MAX_FRAME_BYTES } from './message.js';
import {
  anyObject,
  array,
  boolean,
  literal,
  nullable,
  number,
  object,
  optional,
  string,
  type Infer,
} from './schema.js';
import type { ValidatorSet } from './parse.js';
import { sessionDonePayload, sessionOpenedPayload, sessionOutputPayload } from './sessions.js';
import { updateResultPayload } from './update-session.js';

/**
 * Most requests an agent may say it holds open in `hello.open_requests` (`commands.maxConcurrent`
 * is bounded by it, so an agent never has more to list).
 */
export const MAX_OPEN_REQUESTS = 1024;

export const helloPayload = object({
  device_id: deviceId(),
  agent_version: string({ maxLength: 64 }),
  protocol: number({ integer: true, min: 1 }),
  hostname: optional(string({ maxLength: 255 })),
  os: optional(string({ maxLength: 255 })),
  kernel: optional(string({ maxLength: 255 })),
  arch: optional(string({ maxLength: 64 })),
  model: optional(string({ maxLength: 255 })),
  serial: optional(string({ maxLength: 255 })),
  capabilities: array(string({ maxLength: 128 }), { maxItems: 256 }),
  /** The agent's spool identity: a new one means its seqs start over (a wiped spool). */
  store_id: optional(storeId()),
  /**
   * The hub's request_ids of the requests this agent process holds open now (received, final
   * reply not yet sent). With `seq`, tells the hub which of its forwarded requests the agent
   * really has.
   */
  open_requests: optional(array(requestId(), { maxItems: MAX_OPEN_REQUESTS })),
  /** The last seq the agent's spool had given out when it said hello (0: none yet). */
  seq: optional(seqNumber({ min: 0 })),
});
export type HelloPayload = Infer<typeof helloPayload>;

export const telemetryPayload = object({
  device_id: optional(deviceId()),
  stream: streamName(),
  ts: isoTimestamp(),
  value: number(),
});
export type TelemetryPayload = Infer<typeof telemetryPayload>;

/** One piece of a running command's output: UTF-8 text, or base64 bytes when not valid UTF-8. */
export const commandOutputPayload = object({
  chunk: string({ maxLength: MAX_FRAME_BYTES }),
  fd: literal('stdout', 'stderr'),
  encoding: optional(literal('base64')),
});

/** The end of a command; `exit_code` is null when it died by a signal (named in `signal`). */
export const commandDonePayload = object({
  exit_code: nullable(number({ integer: true })),
  signal: optional(nullable(string({ pattern: /^SIG[A-Z0-9]+$/ }))),
  timed_out: optional(boolean()),
  cancelled: optional(boolean()),
  truncated: optional(boolean()),
  duration_ms: optional(number({ integer: true, min: 0 })),
});

/**
 * How many stdin bytes of a byte-stream command the command has taken so far (cumulative): the
 * client keeps its unconsumed stdin under a window with it (docs/protocol.md, raw bytes).
 */
export const inputConsumedPayload = object({ bytes: number({ integer: true, min: 0 }) });

export const toHubValidators: ValidatorSet = {
  input_consumed: inputConsumedPayload,
  hello: helloPayload,
  telemetry: telemetryPayload,
  command_output: commandOutputPayload,
  command_done: commandDonePayload,
  error: object({ code: errorCode(), message: errorText() }),
  status: anyObject(),
  user: userPayload,
  app_error: appErrorPayload,
  app_call: appCallPayload,
  app_call_done: appCallDonePayload,
  app_command_done: appCommandDonePayload,
  session_opened: sessionOpenedPayload,
  session_output: sessionOutputPayload,
  session_done: sessionDonePayload,
  update_result: updateResultPayload,
};

/** The agent's hello must come first; everything else is refused until it has. */
export const HELLO = 'hello';
