/**
 * Sessions on the wire (docs/protocol.md, "Sessions"): the shapes the hub and the agent both
 * check. A session is a request like a command: `session_open` under a request_id, then
 * `session_opened`, bytes both ways, and exactly one `session_done` (or an `error`, which the hub
 * follows with a `session_done` carrying it). Its `kind` says what carries the bytes on the
 * device: a terminal (`shell`, the default), a file (`file_get`, `file_put`), a TCP connection
 * (`forward`) or the agent's next binary (`update`, opened by the hub itself). The hub treats
 * every kind alike; each kind's own fields are the agent's to check.
 */
import { streamNumber } from './byte-frame.js';
import { deviceId } from './fields.js';
import { MAX_FRAME_BYTES } from './message.js';
import {
  boolean,
  literal,
  nullable,
  number,
  object,
  optional,
  string,
  type Infer,
} from './schema.js';

/** What a session carries on the device. `shell` when a `session_open` names none. */
export const SESSION_KINDS = ['shell', 'file_get', 'file_put', 'forward', 'update'] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];
export const DEFAULT_SESSION_KIND: SessionKind = 'shell';
export const sessionKind = () => literal(...SESSION_KINDS);

/**
 * Flow control of the sessions that move bulk bytes (every kind but `shell`): a client keeps at
 * most this many input bytes sent but not yet reported taken by `input_consumed`, and the agent
 * at most this many output bytes sent but not yet acknowledged by the client's `session_ack`. So a
 * reader that stops stalls its own session only, and nothing between the two grows: the hub
 * holds at most this much of a session's input while its device is away.
 */
export const SESSION_WINDOW_BYTES = 1024 * 1024;
/** The agent reports `input_consumed` at least this often (and whenever it has caught up). */
export const INPUT_REPORT_BYTES = 256 * 1024;
/** Longest `requested_by` the hub writes into a `session_open` it forwards. */
export const MAX_REQUESTED_BY_CHARS = 200;
/** A byte count on the wire: cumulative, never above 2^53 − 1. */
const byteCount = () => number({ integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
const sha256Hex = () => string({ pattern: /^[0-9a-f]{64}$/ });

/** Largest rows or cols a session may ask for (the kernel keeps them in 16 bits). */
export const MAX_TERMINAL_CELLS = 10_000;
/** Longest keystroke piece in one JSON `session_input` (base64). */
export const MAX_SESSION_INPUT_CHARS = 256 * 1024;

export const terminalRows = () => number({ integer: true, min: 1, max: MAX_TERMINAL_CELLS });
export const terminalCols = terminalRows;
const base64Text = (maxLength: number) => string({ maxLength, pattern: /^[A-Za-z0-9+/]*={0,2}$/ });
const followUpId = () => optional(string({ minLength: 1, maxLength: 200 }));

/**
 * What the hub checks of a client's `session_open` before forwarding it; the agent the rest.
 * `rows` and `cols` are required of a `shell` (the broker checks that), of no other kind.
 */
export const sessionForwardPayload = object({
  device_id: deviceId(),
  kind: optional(sessionKind()),
  rows: optional(terminalRows()),
  cols: optional(terminalCols()),
  stream: optional(streamNumber()),
});
export type SessionForwardPayload = Infer<typeof sessionForwardPayload>;

/**
 * `session_ack`: the client has taken this many of the session's output bytes (cumulative, from
 * the session's first), so the agent may send up to SESSION_WINDOW_BYTES beyond them.
 */
export const sessionAckPayload = object({
  request_id: followUpId(),
  bytes: byteCount(),
});
export type SessionAckPayload = Infer<typeof sessionAckPayload>;

/** `session_input`: keystrokes as base64, for clients that cannot send binary frames. */
export const sessionInputPayload = object({
  request_id: followUpId(),
  data: base64Text(MAX_SESSION_INPUT_CHARS),
});
export type SessionInputPayload = Infer<typeof sessionInputPayload>;

/** `session_resize`: the window's new size; the foreground program gets SIGWINCH. */
export const sessionResizePayload = object({
  request_id: followUpId(),
  rows: terminalRows(),
  cols: terminalCols(),
});
export type SessionResizePayload = Infer<typeof sessionResizePayload>;

/** `session_close`: ends the session (every process of it); `session_done` follows. */
export const sessionClosePayload = object({ request_id: followUpId() });

/** The agent's answer once the session runs; each kind fills its own fields. */
export const sessionOpenedPayload = object({
  tty: optional(string({ maxLength: 64 })),
  pid: optional(number({ integer: true, min: 1 })),
  /** file_put, update: bytes the device already holds (a resumed transfer starts there). */
  offset: optional(byteCount()),
  /** file_get: the file's size; mode: its permission bits. */
  size: optional(byteCount()),
  mode: optional(number({ integer: true, min: 0, max: 0o7777 })),
  /** forward: the address and port the device connected to. */
  address: optional(string({ maxLength: 64 })),
  port: optional(number({ integer: true, min: 1, max: 65535 })),
});

/** Terminal output as base64 (on links without binary frames). */
export const sessionOutputPayload = object({ data: base64Text(MAX_FRAME_BYTES) });

/** The end of a session, always exactly one per `session_open`. */
export const sessionDonePayload = object({
  exit_code: nullable(number({ integer: true })),
  signal: optional(nullable(string({ pattern: /^SIG[A-Z0-9]+$/ }))),
  idle: optional(boolean()),
  closed: optional(boolean()),
  /** forward: ended by forward.maxDurationS. */
  timed_out: optional(boolean()),
  duration_ms: optional(number({ integer: true, min: 0 })),
  /** file_get, file_put, update: bytes moved in this session; sha256: of the whole file. */
  bytes: optional(byteCount()),
  sha256: optional(sha256Hex()),
  /** forward: bytes from the client to the target, and back. */
  bytes_in: optional(byteCount()),
  bytes_out: optional(byteCount()),
});
