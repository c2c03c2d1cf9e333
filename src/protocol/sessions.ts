/**
 * Shell sessions on the wire (docs/protocol.md, "Shell sessions"): the shapes the hub and the
 * agent both check. A session is a request like a command: `session_open` under a request_id,
 * then `session_opened`, output, and exactly one `session_done` (or an `error`, which the hub
 * follows with a `session_done` carrying it).
 */
import { streamNumber } from './byte-frame.js';
import { deviceId } from './fields.js';
import { MAX_FRAME_BYTES } from './message.js';
import { boolean, nullable, number, object, optional, string, type Infer } from './schema.js';

/** Largest rows or cols a session may ask for (the kernel keeps them in 16 bits). */
export const MAX_TERMINAL_CELLS = 10_000;
/** Longest keystroke piece in one JSON `session_input` (base64). */
export const MAX_SESSION_INPUT_CHARS = 256 * 1024;

export const terminalRows = () => number({ integer: true, min: 1, max: MAX_TERMINAL_CELLS });
export const terminalCols = terminalRows;
const base64Text = (maxLength: number) => string({ maxLength, pattern: /^[A-Za-z0-9+/]*={0,2}$/ });
const followUpId = () => optional(string({ minLength: 1, maxLength: 200 }));

/** What the hub checks of a client's `session_open` before forwarding it; the agent the rest. */
export const sessionForwardPayload = object({
  device_id: deviceId(),
  rows: terminalRows(),
  cols: terminalCols(),
  stream: optional(streamNumber()),
});

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

/** The agent's answer once the terminal runs. */
export const sessionOpenedPayload = object({
  tty: optional(string({ maxLength: 64 })),
  pid: optional(number({ integer: true, min: 1 })),
});

/** Terminal output as base64 (on links without binary frames). */
export const sessionOutputPayload = object({ data: base64Text(MAX_FRAME_BYTES) });

/** The end of a session, always exactly one per `session_open`. */
export const sessionDonePayload = object({
  exit_code: nullable(number({ integer: true })),
  signal: optional(nullable(string({ pattern: /^SIG[A-Z0-9]+$/ }))),
  idle: optional(boolean()),
  closed: optional(boolean()),
  duration_ms: optional(number({ integer: true, min: 0 })),
});
