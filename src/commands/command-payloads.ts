/**
 * Validators for the messages the hub sends to the commands feature, one per type. The shapes
 * are the platform docs' `command` plus our optional fields; see docs/protocol.md.
 */
import { deviceId } from '../protocol/fields.js';
import { streamNumber } from '../protocol/byte-frame.js';
import {
  array,
  boolean,
  number,
  object,
  optional,
  record,
  string,
  type Infer,
  type Validator,
} from '../protocol/schema.js';

/** Longest shell line or argv element accepted (a command line, not a payload upload). */
const MAX_COMMAND_CHARS = 64 * 1024;
/** Longest stdin piece in one `command_input` (well under the 1 MiB frame limit). */
const MAX_INPUT_CHARS = 512 * 1024;
const requestId = () => string({ minLength: 1, maxLength: 200 });

/**
 * What a program to run is made of, with its bounds: a `command` and a shell session's
 * `session_open` take the same (and programProblem checks both the same way).
 */
export const PROGRAM_FIELDS = {
  command: optional(string({ minLength: 1, maxLength: MAX_COMMAND_CHARS })),
  argv: optional(array(string({ maxLength: MAX_COMMAND_CHARS }), { maxItems: 1024 })),
  cwd: optional(string({ minLength: 1, maxLength: 4096 })),
  env: optional(record(string({ maxLength: MAX_COMMAND_CHARS }), { maxKeys: 256 })),
};

const commandShape = object({
  device_id: optional(deviceId()),
  command: PROGRAM_FIELDS.command,
  argv: PROGRAM_FIELDS.argv,
  stream_output: optional(boolean()),
  timeout_s: optional(number({ min: 0.001, max: 31_536_000 })),
  cwd: PROGRAM_FIELDS.cwd,
  env: PROGRAM_FIELDS.env,
  stdin: optional(boolean()),
  pty: optional(boolean()),
  /** The hub's stream number: answer with binary frames (docs/protocol.md, raw bytes). */
  stream: optional(streamNumber()),
});

/** `command`: exactly one of `command` (a shell line) and `argv` (no shell). */
export const commandPayload: Validator<Infer<typeof commandShape>> = (value, path) => {
  const r = commandShape(value, path);
  if (!r.ok) return r;
  const { command, argv, env } = r.value;
  if ((command === undefined) === (argv === undefined)) {
    return {
      ok: false,
      error: `${path}: expected exactly one of "command" (string) and "argv" (array)`,
    };
  }
  const problem = programProblem(path, argv, env);
  return problem === undefined ? r : { ok: false, error: problem };
};

/**
 * What is wrong with a request's `argv` and `env` (commands and shell sessions alike): an
 * empty program, or a variable name the environment cannot hold; undefined when nothing is.
 */
export function programProblem(
  path: string,
  argv: readonly string[] | undefined,
  env: Readonly<Record<string, string>> | undefined,
): string | undefined {
  if (argv !== undefined && (argv.length === 0 || argv[0] === ''))
    return `${path}.argv: expected a non-empty array with a program first`;
  for (const key of Object.keys(env ?? {}))
    if (key === '' || key.includes('=') || key.includes('\0'))
      return `${path}.env: "${key}" is not a valid variable name`;
  return undefined;
}
export type CommandPayload = Infer<typeof commandShape>;

/** `command_cancel`: the running command named by `payload.request_id` (or the envelope's). */
export const commandCancelPayload = object({ request_id: optional(requestId()) });

/** `command_input`: stdin for a running command; `data` is UTF-8 text or base64 bytes. */
export const commandInputPayload = object({
  request_id: optional(requestId()),
  data: optional(string({ maxLength: MAX_INPUT_CHARS })),
  encoding: optional(string({ pattern: /^(utf8|base64)$/ })),
  eof: optional(boolean()),
});
export type CommandInputPayload = Infer<typeof commandInputPayload>;
