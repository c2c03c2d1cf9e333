import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/error-codes.js';
import type { ApiKeys } from './auth.js';
import {
  API_KEY_ONLY,
  KEY_OR_SESSION,
  authenticateClient,
  challenge,
  refusalMessage,
  type ClientCredential,
} from './client-auth.js';
import type { CommandApi } from './command-api/command-api.js';
import { commandRoute, handleCommandApi } from './command-api/command-routes.js';
import type { DeviceSummary } from './device-registry.js';
import { errorBody, methodNotAllowed, sendJson } from './http-reply.js';
import { SESSION_PATH, handleSession } from './session-route.js';
import type { SessionTokens } from './session-tokens.js';
import type { StaticFiles } from './static-files.js';
import { handleWebhooks, isWebhooksPath, webhooksScope } from './webhooks/webhook-routes.js';
import type { Webhooks } from './webhooks/webhooks.js';
import type { ArtifactStore } from './updates/artifact-store.js';
import type { UpdateManager } from './updates/update-manager.js';
import { handleUpdates, isReadOnly, updateRoute } from './updates/update-routes.js';

/**
 * The hub's plain HTTP endpoints:
 *
 *     GET /healthz      200 {"ok":true}, no auth (for probes)
 *     GET /v1/devices   the devices as JSON; API key as `Authorization: Bearer` or `?api_key=`,
 *                       or a session token as `Authorization: Bearer` or `?session=`
 *     /v1/session       API key → short-lived session token (session-route.ts)
 *     /v1/webhooks      GET, POST, DELETE /{id}, POST /{id}/test; the API key (a session token
 *                       only lists, masked; elsewhere 403 insufficient_scope); webhook-routes.ts
 *     POST /v1/devices/{id}/commands, /v1/devices/{id}/app-commands, GET and DELETE
 *                       /v1/commands/{id}: the Command API, the API key only; see
 *                       command-api/command-routes.ts
 *     /v1/artifacts, /v1/updates  agent updates: GET with the API key or a session token, the
 *                       rest with the API key; updates/update-routes.ts
 *     GET /             the console and its files (static-files.ts)
 *
 * `/v1/device` and `/v1/stream` answer 426 without a WebSocket upgrade; anything else is 404.
 * Errors are `{ "error": { "code", "message" } }`.
 */
export const DEVICE_PATH = '/v1/device';
export const STREAM_PATH = '/v1/stream';
export const DEVICES_PATH = '/v1/devices';
export const HEALTH_PATH = '/healthz';

export interface HttpApiOptions {
  apiKeys: ApiKeys;
  sessions: SessionTokens;
  staticFiles: StaticFiles;
  devices: () => DeviceSummary[];
  webhooks?: Webhooks;
  commandApi?: CommandApi;
  /** Agent artifacts and updates (null: the hub keeps none, the endpoints say so). */
  artifacts?: ArtifactStore | null;
  updates?: UpdateManager | null;
  logger: Logger;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function createHttpApi({
  apiKeys,
  sessions,
  staticFiles,
  devices,
  webhooks,
  commandApi,
  artifacts = null,
  updates = null,
  logger,
}: HttpApiOptions): RequestHandler {
  /**
   * False (and a 401 or 403 sent) unless the request carries a credential the endpoint
   * `accepts` (client-auth.ts: a session token opens only what the console uses).
   */
  const authorized = (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    accepts: readonly ClientCredential[],
  ): boolean => {
    const auth = authenticateClient(req.headers, url, apiKeys, sessions, accepts);
    if (auth.ok) return true;
    logger.warn({ code: auth.code, path: url.pathname.slice(0, 200) }, 'API request refused');
    sendJson(res, auth.status, errorBody(auth.code, refusalMessage(auth.code)), {
      'WWW-Authenticate': challenge(auth.code),
    });
    return false;
  };
  return (req, res) => {
    const url = requestUrl(req);
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (webhooks && isWebhooksPath(url.pathname)) {
      if (!authorized(req, res, url, webhooksScope(req.method))) return;
      handleWebhooks(req, res, url.pathname, webhooks).catch((err: unknown) => {
        logger.error({ err }, 'webhook request failed');
        if (!res.headersSent)
          sendJson(res, 500, errorBody(ErrorCode.internalError, 'internal error'));
      });
      return;
    }
    const command = commandApi ? commandRoute(url.pathname) : null;
    if (commandApi && command) {
      if (!authorized(req, res, url, API_KEY_ONLY)) return;
      handleCommandApi(req, res, command, url, commandApi).catch((err: unknown) => {
        logger.error({ err }, 'command API request failed');
        if (!res.headersSent)
          sendJson(res, 500, errorBody(ErrorCode.internalError, 'internal error'));
      });
      return;
    }
    const update = updateRoute(url.pathname);
    if (update) {
      if (!authorized(req, res, url, isReadOnly(req) ? KEY_OR_SESSION : API_KEY_ONLY)) return;
      handleUpdates(req, res, update, artifacts, updates).catch((err: unknown) => {
        logger.error({ err }, 'update request failed');
        if (!res.headersSent)
          sendJson(res, 500, errorBody(ErrorCode.internalError, 'internal error'), {
            Connection: 'close',
          });
      });
      return;
    }
    switch (url.pathname) {
      case HEALTH_PATH:
        if (!read) return methodNotAllowed(res, 'GET, HEAD');
        return sendJson(res, 200, { ok: true });
      case DEVICES_PATH:
        if (!read) return methodNotAllowed(res, 'GET, HEAD');
        if (!authorized(req, res, url, KEY_OR_SESSION)) return;
        return sendJson(res, 200, devices());
      case SESSION_PATH:
        return handleSession(req, res, { apiKeys, sessions, logger });
      case DEVICE_PATH:
      case STREAM_PATH:
        return sendJson(
          res,
          426,
          errorBody(ErrorCode.upgradeRequired, 'this endpoint speaks WebSocket only'),
          {
            Upgrade: 'websocket',
            Connection: 'Upgrade',
          },
        );
      default:
        if (staticFiles.serve(req, res, url)) return;
        return sendJson(
          res,
          404,
          errorBody(
            ErrorCode.notFound,
            `no such endpoint: ${req.method} ${url.pathname.slice(0, 200)}`,
          ),
        );
    }
  };
}

/** The request's URL; only the path and query are the client's, the base is a placeholder. */
export function requestUrl(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', 'http://hub.invalid');
  } catch {
    return new URL('http://hub.invalid/');
  }
}
