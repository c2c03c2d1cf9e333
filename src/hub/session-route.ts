import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/error-codes.js';
import { bearerToken, type ApiKeys } from './auth.js';
import { errorBody, sendJson } from './http-reply.js';
import type { SessionExpiry, SessionTokens } from './session-tokens.js';

/**
 * `/v1/session`: a browser exchanges the API key for a short-lived session token.
 *
 *     POST /v1/session   Authorization: Bearer API_KEY   → 201 { token, expires_at, expires_in_s }
 *     GET  /v1/session   Authorization: Bearer TOKEN     → 200 { expires_at, expires_in_s }
 *
 * The key is taken from the header only, never from the URL (the point of the exchange is that
 * the key stays out of URLs). A session token cannot open another session, or a stolen token
 * could be kept alive for ever. `GET` tells a page whether its token still holds, so after a
 * refused WebSocket upgrade (whose status a browser never sees) it knows whether to ask again.
 */
export const SESSION_PATH = '/v1/session';

export interface SessionRouteOptions {
  apiKeys: ApiKeys;
  sessions: SessionTokens;
  logger: Logger;
}

export function handleSession(
  req: IncomingMessage,
  res: ServerResponse,
  { apiKeys, sessions, logger }: SessionRouteOptions,
): void {
  const presented = bearerToken(req.headers.authorization);
  if (req.method === 'POST') {
    if (!apiKeys.verify(presented)) {
      logger.warn({ code: ErrorCode.unauthorized, path: SESSION_PATH }, 'session refused');
      return unauthorized(res, ErrorCode.unauthorized, 'an API key is required as a Bearer token');
    }
    const session = sessions.issue(presented as string);
    logger.info({ expiresAt: session.expiresAt.toISOString() }, 'session opened');
    return sendJson(res, 201, { token: session.token, ...expiryBody(session) });
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    const check = presented === null ? null : sessions.check(presented);
    if (check?.ok) return sendJson(res, 200, expiryBody(check));
    if (check?.reason === 'expired')
      return unauthorized(res, ErrorCode.sessionExpired, 'the session token has expired');
    return unauthorized(
      res,
      ErrorCode.unauthorized,
      'a session token is required as a Bearer token',
    );
  }
  sendJson(res, 405, errorBody(ErrorCode.methodNotAllowed, 'only POST and GET are allowed here'), {
    Allow: 'POST, GET, HEAD',
  });
}

function expiryBody({ expiresAt, expiresInMs }: SessionExpiry): {
  expires_at: string;
  expires_in_s: number;
} {
  return { expires_at: expiresAt.toISOString(), expires_in_s: Math.floor(expiresInMs / 1000) };
}

function unauthorized(res: ServerResponse, code: string, message: string): void {
  sendJson(res, 401, errorBody(code, message), { 'WWW-Authenticate': 'Bearer' });
}
