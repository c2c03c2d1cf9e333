/**
 * Messages about device apps (the programs that talk to the agent's local SDK socket), one
 * validator each, for every hop:
 *
 *     stream client → hub → agent   app_command       { device_id, app?, command: { "<cmd_type>": {…} } }
 *     agent → hub → client          app_command_done  { delivered: [app names] }
 *     agent → hub                   user              { app, payload }        (channel: the app's, or none)
 *                                   app_error         { app, error: { type, msg } }
 *                                   app_call          { app, name, args }
 *                                   app_call_done     { app, name, exit_code?, signal?, timed_out?, truncated?, stdout?, stderr?, error? }
 */
import { deviceId } from './fields.js';
import {
  anyObject,
  array,
  boolean,
  isPlainObject,
  nullable,
  number,
  object,
  optional,
  string,
  type Infer,
  type Result,
  type Validator,
} from './schema.js';

/** App names, channels and routine names reach logs, webhooks and forwarding: printable, bounded. */
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
export const APP_NAME_PATTERN = /^[^\u0000-\u001f\u007f]{1,128}$/;
export const appName = () => string({ pattern: APP_NAME_PATTERN });
export const channelName = () => string({ pattern: APP_NAME_PATTERN });

/** A `{"<name>": {…}}` object: exactly one key, a name, whose value is an object. */
export interface NamedEntry {
  name: string;
  params: Record<string, unknown>;
}

export function namedEntry(value: unknown, path: string): Result<NamedEntry> {
  if (!isPlainObject(value)) return { ok: false, error: `${path}: expected object` };
  const keys = Object.keys(value);
  const [name] = keys;
  if (keys.length !== 1 || name === undefined || !APP_NAME_PATTERN.test(name)) {
    return {
      ok: false,
      error: `${path}: expected exactly one key, the name (1-128 printable chars)`,
    };
  }
  const params = value[name];
  if (!isPlainObject(params)) return { ok: false, error: `${path}.${name}: expected object` };
  return { ok: true, value: { name, params } };
}

/** The command for an app, kept in its wire shape: `{"<cmd_type>": {…params}}`. */
const appCommand: Validator<Record<string, unknown>> = (value, path) => {
  const r = namedEntry(value, path);
  return r.ok ? { ok: true, value: value as Record<string, unknown> } : r;
};

/** What a stream client sends; the hub forwards it by device_id and relays the rest. */
export const appCommandRequest = object({
  device_id: deviceId(),
  app: optional(appName()),
  command: appCommand,
});

/** What the agent receives (the hub passes the client's payload on). */
export const appCommandPayload = object({
  app: optional(appName()),
  command: appCommand,
});
export type AppCommandPayload = Infer<typeof appCommandPayload>;

export const appCommandDonePayload = object({
  delivered: array(appName(), { maxItems: 1024 }),
});

export const userPayload = object({ app: appName(), payload: anyObject() });

export const appErrorPayload = object({
  app: appName(),
  error: object({ type: string({ maxLength: 256 }), msg: string({ maxLength: 10_000 }) }),
});

export const appCallPayload = object({ app: appName(), name: appName(), args: anyObject() });

export const appCallDonePayload = object({
  app: appName(),
  name: appName(),
  exit_code: optional(nullable(number({ integer: true }))),
  signal: optional(nullable(string({ maxLength: 32 }))),
  timed_out: optional(boolean()),
  truncated: optional(boolean()),
  stdout: optional(string({ maxLength: 1 << 20 })),
  stderr: optional(string({ maxLength: 1 << 20 })),
  error: optional(
    object({ code: string({ maxLength: 100 }), message: string({ maxLength: 10_000 }) }),
  ),
});

/** The stream name a subscription includes to receive a device's app events. */
export const APP_EVENTS_STREAM = 'apps';

/** The channel of the agent's messages about apps (errors, calls). */
export const APPS_CHANNEL = 'apps';

/** Device messages about apps that the hub relays to subscribers of APP_EVENTS_STREAM. */
export const APP_EVENT_TYPES: readonly string[] = ['app_error', 'app_call', 'app_call_done'];

/** The device message type that carries app data (platform Type `user`). */
export const USER_MESSAGE_TYPE = 'user';
