import { appName, channelName, namedEntry } from '../protocol/apps.js';
import { decodeJson } from '../protocol/bounded-json.js';
import {
  anyObject,
  isPlainObject,
  literal,
  object,
  optional,
  string,
  type Result,
} from '../protocol/schema.js';

/**
 * The iottly SDK's wire protocol on the local socket (shared/iottly-sdk-wire.md): one JSON
 * object per `\n`-terminated line, in both directions. This file holds one validator per kind
 * of app line and one encoder per kind of agent line; nothing else reads or writes the wire.
 *
 *     app → agent   {"signal": {"sdkclient": {"name", "status": "connected"|"disconnected", "version"?}}}
 *                   {"signal": {"sdkclient": {"name", "error": {"type", "msg"}}}}
 *                   {"signal": {"sdkclient": {"name", "call": {"<cmd>": {…args}}}}}
 *                   {"data": {"sdkclient": {"name"}, "payload": {…}, "channel"?}}
 *     agent → app   {"signal": {"sdkinit": {"version"}}}
 *                   {"signal": {"connectionstatus": "connected"|"disconnected"}}
 *                   {"signal": {"agentstatus": "stopping"}}
 *                   {"data": {"<cmd_type>": {…params}}}
 */
/**
 * The version this agent announces in `sdkinit`. The SDK reads it as the level of the *local
 * socket protocol* the agent speaks (strict MAJOR.MINOR.PATCH; `call_agent` needs >= 1.8.0),
 * not as a release number: this agent implements that level in full, so it announces it,
 * whatever the package's own version (AGENT_VERSION, still 0.x) is.
 */
export const SDK_PROTOCOL_VERSION = '1.8.0';

export type AppLine =
  | { kind: 'status'; app: string; status: 'connected' | 'disconnected'; version?: string }
  | { kind: 'error'; app: string; errorType: string; message: string }
  | { kind: 'call'; app: string; call: string; args: Record<string, unknown> }
  | {
      kind: 'data';
      app: string;
      payload: Record<string, unknown>;
      channel?: string;
      /** Length of the line in UTF-16 units: a cheap bound on the payload's encoded size. */
      lineLength: number;
    };

const statusSignal = object({
  name: appName(),
  status: literal('connected', 'disconnected'),
  version: optional(string({ maxLength: 64 })),
});
const errorSignal = object({
  name: appName(),
  error: object({ type: string({ maxLength: 256 }), msg: string({ maxLength: 10_000 }) }),
});
const callSignal = object({ name: appName(), call: anyObject() });
const dataLine = object({
  sdkclient: object({ name: appName() }),
  payload: anyObject(),
  channel: optional(channelName()),
});

const appNameField = appName();
const channelField = optional(channelName());

/**
 * A data line that `dataLine` accepts, checked with the same field validators but without
 * building its intermediate objects: data lines are nearly all the traffic, and the generic
 * object walk cost as much as the rest of the framing (issue 21). Null: anything else, for
 * `dataLine` to name the fault.
 */
function validDataLine(data: unknown, lineLength: number): AppLine | null {
  if (!isPlainObject(data) || !isPlainObject(data.sdkclient) || !isPlainObject(data.payload)) {
    return null;
  }
  const name = appNameField(data.sdkclient.name, '');
  const channel = channelField(data.channel, '');
  if (!name.ok || !channel.ok) return null;
  const value: AppLine = { kind: 'data', app: name.value, payload: data.payload, lineLength };
  if (channel.value !== undefined) value.channel = channel.value;
  return value;
}

/**
 * Decodes one line from an app; never throws. The error names what was wrong. A line nested
 * deeper than MAX_JSON_DEPTH is refused before it is decoded (its payload would overflow the
 * stack of whatever serialises it next); its length the line splitter bounded already.
 */
export function parseAppLine(line: string): Result<AppLine> {
  const json = decodeJson(line, { maxBytes: Number.POSITIVE_INFINITY });
  if (!json.ok) return { ok: false, error: json.message };
  const decoded = json.value;
  if (!isPlainObject(decoded)) return { ok: false, error: 'expected a JSON object' };
  if (decoded.data !== undefined) {
    const valid = validDataLine(decoded.data, line.length);
    if (valid) return { ok: true, value: valid };
    const r = dataLine(decoded.data, 'data'); // says what is wrong
    if (!r.ok) return r;
    const { sdkclient, payload, channel } = r.value;
    const value: AppLine = { kind: 'data', app: sdkclient.name, payload, lineLength: line.length };
    if (channel !== undefined) value.channel = channel;
    return { ok: true, value };
  }
  if (!isPlainObject(decoded.signal) || !isPlainObject(decoded.signal.sdkclient)) {
    return { ok: false, error: 'expected "data" or "signal.sdkclient"' };
  }
  const client = decoded.signal.sdkclient;
  const path = 'signal.sdkclient';
  if (client.status !== undefined) {
    const r = statusSignal(client, path);
    if (!r.ok) return r;
    const value: AppLine = { kind: 'status', app: r.value.name, status: r.value.status };
    if (r.value.version !== undefined) value.version = r.value.version;
    return { ok: true, value };
  }
  if (client.error !== undefined) {
    const r = errorSignal(client, path);
    if (!r.ok) return r;
    const { name, error } = r.value;
    return {
      ok: true,
      value: { kind: 'error', app: name, errorType: error.type, message: error.msg },
    };
  }
  if (client.call !== undefined) {
    const r = callSignal(client, path);
    if (!r.ok) return r;
    const entry = namedEntry(r.value.call, `${path}.call`);
    if (!entry.ok) return entry;
    const { name: call, params: args } = entry.value;
    return { ok: true, value: { kind: 'call', app: r.value.name, call, args } };
  }
  return { ok: false, error: `${path}: expected one of "status", "error", "call"` };
}

export type ConnectionState = 'connected' | 'disconnected';

export function sdkInitLine(version: string): string {
  return line({ signal: { sdkinit: { version } } });
}

export function connectionStatusLine(state: ConnectionState): string {
  return line({ signal: { connectionstatus: state } });
}

export function agentStoppingLine(): string {
  return line({ signal: { agentstatus: 'stopping' } });
}

export function commandLine(commandType: string, params: Record<string, unknown>): string {
  return line({ data: { [commandType]: params } });
}

/** What an app sends; `publish` and the tests' SDK client use these. */
export function clientStatusLine(app: string, status: ConnectionState, version?: string): string {
  const sdkclient: Record<string, unknown> = { name: app, status };
  if (version !== undefined) sdkclient.version = version;
  return line({ signal: { sdkclient } });
}

export function clientDataLine(
  app: string,
  payload: Record<string, unknown>,
  channel?: string,
): string {
  const data: Record<string, unknown> = { sdkclient: { name: app }, payload };
  if (channel !== undefined) data.channel = channel;
  return line({ data });
}

function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}
