import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJson } from '../../protocol/bounded-json.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { fromClientValidators } from '../../protocol/from-client.js';
import { isPlainObject } from '../../protocol/schema.js';
import { errorBody, methodNotAllowed, sendJson } from '../http-reply.js';
import { decodedOrNull, readBody } from '../http-request.js';
import type { CommandApi } from './command-api.js';
import type { CommandKind, CommandResultView } from './command-results.js';

/**
 * REST for the Command API (the API key is checked by the caller; docs/protocol.md, "Command API
 * (REST)"):
 *
 *     POST   /v1/devices/{id}/commands?wait=S       body: a `command` frame's payload
 *     POST   /v1/devices/{id}/app-commands?wait=S   body: an `app_command` frame's payload
 *     GET    /v1/commands/{request_id}?wait=S       the result (running, or how it ended)
 *     DELETE /v1/commands/{request_id}              cancels a running command (202)
 *
 * A POST answers 200 with the result when it ended within `wait` seconds (default
 * DEFAULT_WAIT_S, at most MAX_WAIT_S), else 202 with the running result and its `request_id`
 * (at once with `wait=0`). The hub's refusals are HTTP errors with the stream API's codes;
 * how the device ended the command (`command_denied`, `busy`, …) is the result's `error`, as
 * in the stream's `command_done`.
 */
export const COMMANDS_PATH = '/v1/commands';
/** Largest request body: a command line, argv and env fit many times over. */
export const MAX_COMMAND_BODY_BYTES = 64 * 1024;
/** How long a POST waits for the result when it does not say. */
export const DEFAULT_WAIT_S = 30;
/** The longest wait a request may ask for (proxies cut idle requests at about a minute). */
export const MAX_WAIT_S = 60;

const DEVICE_COMMAND = /^\/v1\/devices\/([^/]+)\/(commands|app-commands)$/;
const RESULT = /^\/v1\/commands\/([^/]+)$/;

export type CommandRoute =
  { kind: 'start'; command: CommandKind; deviceId: string } | { kind: 'result'; id: string };

/** The Command API endpoint of `pathname`, or null (also for a segment that is not valid). */
export function commandRoute(pathname: string): CommandRoute | null {
  const device = DEVICE_COMMAND.exec(pathname);
  if (device) {
    const deviceId = decodedOrNull(device[1] ?? '');
    const command = device[2] === 'commands' ? 'command' : 'app_command';
    return deviceId === null ? null : { kind: 'start', command, deviceId };
  }
  const result = RESULT.exec(pathname);
  const id = result ? decodedOrNull(result[1] ?? '') : null;
  return id === null ? null : { kind: 'result', id };
}

export async function handleCommandApi(
  req: IncomingMessage,
  res: ServerResponse,
  route: CommandRoute,
  url: URL,
  api: CommandApi,
): Promise<void> {
  if (route.kind === 'start') {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    return start(req, res, route.command, route.deviceId, url, api);
  }
  if (req.method === 'GET' || req.method === 'HEAD') return result(res, route.id, url, api);
  if (req.method === 'DELETE') return cancel(res, route.id, api);
  return methodNotAllowed(res, 'GET, HEAD, DELETE');
}

async function start(
  req: IncomingMessage,
  res: ServerResponse,
  kind: CommandKind,
  deviceId: string,
  url: URL,
  api: CommandApi,
): Promise<void> {
  const wait = waitSeconds(url, DEFAULT_WAIT_S);
  if (typeof wait === 'string') return refuse(res, ErrorCode.invalidPayload, wait);
  const body = await readBody(req, MAX_COMMAND_BODY_BYTES);
  if (body === null) {
    return sendJson(
      res,
      413,
      errorBody(ErrorCode.payloadTooLarge, `a command is at most ${MAX_COMMAND_BODY_BYTES} bytes`),
      { Connection: 'close' },
    );
  }
  const json = decodeJson(body, { maxBytes: MAX_COMMAND_BODY_BYTES });
  if (!json.ok) return refuse(res, ErrorCode.invalidJson, `body is ${json.message}`);
  const payload = commandPayload(kind, deviceId, json.value);
  if (typeof payload === 'string') return refuse(res, ErrorCode.invalidPayload, payload);
  const started = api.start(kind, payload);
  if (!started.ok) return refuse(res, started.error.code, started.error.message);
  const view = await waitForEnd(res, api, started.id, wait);
  if (!view) return notFound(res, started.id); // evicted while it waited: only a flood does that
  return sendJson(res, view.state === 'done' ? 200 : 202, view, {
    Location: `${COMMANDS_PATH}/${encodeURIComponent(started.id)}`,
  });
}

async function result(res: ServerResponse, id: string, url: URL, api: CommandApi): Promise<void> {
  const wait = waitSeconds(url, 0);
  if (typeof wait === 'string') return refuse(res, ErrorCode.invalidPayload, wait);
  const view = await waitForEnd(res, api, id, wait);
  if (!view) return notFound(res, id);
  return sendJson(res, 200, view);
}

function cancel(res: ServerResponse, id: string, api: CommandApi): void {
  const view = api.get(id);
  if (!view) return notFound(res, id);
  if (view.state === 'done')
    return refuse(res, ErrorCode.unknownRequest, `command "${clip(id)}" has already ended`);
  const refusal = api.cancel(id);
  if (refusal) return refuse(res, refusal.code, refusal.message);
  return sendJson(res, 202, api.get(id) ?? view);
}

/**
 * The body as the payload of the stream's frame, with the path's device: validated as the stream
 * validates it (the hub checks the fields it forwards by; the agent the rest, and its refusal is
 * the result's error). An error message, or the payload.
 */
function commandPayload(
  kind: CommandKind,
  deviceId: string,
  body: unknown,
): Record<string, unknown> | string {
  if (!isPlainObject(body))
    return `body: expected a JSON object (the payload of the stream API's \`${kind}\` frame)`;
  if (body.device_id !== undefined && body.device_id !== deviceId)
    return 'body.device_id: the path names the device; leave it out or give the same id';
  if (kind === 'command' && body.stdin !== undefined && body.stdin !== false)
    return 'body.stdin: the Command API sends no input; use /v1/stream for command_input';
  const payload = { ...body, device_id: deviceId };
  const validate = fromClientValidators[kind];
  const r = validate ? validate(payload, 'body') : { ok: true as const };
  return r.ok ? payload : `${kind}: ${r.error}`;
}

/** `?wait=S`: whole seconds in [0, MAX_WAIT_S], `fallback` when absent; else what was wrong. */
function waitSeconds(url: URL, fallback: number): number | string {
  const raw = url.searchParams.get('wait');
  if (raw === null) return fallback;
  const seconds = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (seconds <= MAX_WAIT_S) return seconds;
  return `wait: expected whole seconds from 0 to ${MAX_WAIT_S}, got "${clip(raw)}"`;
}

/** The result once it ended, or as it is after `seconds` (or when the client hangs up). */
function waitForEnd(
  res: ServerResponse,
  api: CommandApi,
  id: string,
  seconds: number,
): Promise<CommandResultView | undefined> {
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  return api.results.waitForEnd(id, seconds * 1000, gone.signal);
}

/**
 * The HTTP status of a refusal: the stream API's code in the body, the status saying whether to
 * fix the request (4xx but 409/429/503) or try again later.
 */
function refusalStatus(code: string): number {
  switch (code) {
    case ErrorCode.unknownDevice:
      return 404;
    case ErrorCode.deviceOffline:
    case ErrorCode.unknownRequest:
      return 409;
    case ErrorCode.tooManyRequests:
      return 429;
    case ErrorCode.deviceBusy:
      return 503;
    case ErrorCode.internalError:
      return 500;
    default:
      return 400;
  }
}

function refuse(res: ServerResponse, code: string, message: string): void {
  sendJson(res, refusalStatus(code), errorBody(code, message));
}

function notFound(res: ServerResponse, id: string): void {
  sendJson(
    res,
    404,
    errorBody(ErrorCode.notFound, `no command "${clip(id)}" (unknown or expired)`),
  );
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}
