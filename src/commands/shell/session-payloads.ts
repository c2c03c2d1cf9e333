/**
 * The agent's validator of `session_open` (the hub checked only device_id, size and stream):
 * a login shell when neither `command` nor `argv` is given, else what they name, with the same
 * bounds and env-name rules as a `command`.
 */
import { deviceId } from '../../protocol/fields.js';
import { object, optional, type Infer, type Validator } from '../../protocol/schema.js';
import { streamNumber } from '../../protocol/byte-frame.js';
import { terminalCols, terminalRows } from '../../protocol/sessions.js';
import { PROGRAM_FIELDS, programProblem } from '../command-payloads.js';

const sessionOpenShape = object({
  device_id: optional(deviceId()),
  rows: terminalRows(),
  cols: terminalCols(),
  ...PROGRAM_FIELDS,
  stream: optional(streamNumber()),
});
export type SessionOpenPayload = Infer<typeof sessionOpenShape>;

export const sessionOpenPayload: Validator<SessionOpenPayload> = (value, path) => {
  const r = sessionOpenShape(value, path);
  if (!r.ok) return r;
  const { command, argv, env } = r.value;
  if (command !== undefined && argv !== undefined) {
    return { ok: false, error: `${path}: expected at most one of "command" and "argv"` };
  }
  const problem = programProblem(path, argv, env);
  return problem === undefined ? r : { ok: false, error: problem };
};
