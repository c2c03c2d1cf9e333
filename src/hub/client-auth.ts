import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode } from '../protocol/error-codes.js';
import { bearerToken, type ApiKeys } from './auth.js';
import type { SessionTokens } from './session-tokens.js';

/**
 * Who may use the client API: the holder of an API key (`Authorization: Bearer KEY` or
 * `?api_key=KEY`, for backends) or of a live session token (`Authorization: Bearer TOKEN` or
 * `?session=TOKEN`, for browsers, which cannot set headers on a WebSocket). A genuine but
 * expired token is told apart (`session_expired`), so a page knows to ask for a new one rather
 * than retry.
 *
 * Each endpoint declares which credentials it takes (the scopes below), and this file alone
 * decides. A session token lives in a browser tab and in URLs, so it opens what the console
 * uses (`/v1/stream`, `GET /v1/devices`, `GET /v1/webhooks` whose header values are masked;
 * `GET /v1/session` checks it in session-route.ts) and nothing else: with a write to
 * `/v1/webhooks` it could set up an export that outlives the token. A genuine credential outside
 * its scope is refused with 403 `insufficient_scope`, so a client knows a fresh token would not
 * help.
 */
export type ClientCredential = 'api_key' | 'session';

/** What the console uses: a session token will do. */
export const KEY_OR_SESSION: readonly ClientCredential[] = ['api_key', 'session'];
/** Everything else: the API key itself. */
export const API_KEY_ONLY: readonly ClientCredential[] = ['api_key'];

export type ClientRefusal =
  | typeof ErrorCode.unauthorized
  | typeof ErrorCode.sessionExpired
  | typeof ErrorCode.insufficientScope;

export type ClientAuthResult =
  { ok: true; via: ClientCredential } | { ok: false; status: 401 | 403; code: ClientRefusal };

export const SESSION_QUERY_PARAM = 'session';

export function authenticateClient(
  headers: IncomingHttpHeaders,
  url: URL,
  apiKeys: ApiKeys,
  sessions: SessionTokens,
  accepts: readonly ClientCredential[],
): ClientAuthResult {
  const via = presentedCredential(headers, url, apiKeys, sessions);
  if (typeof via !== 'string') return { ok: false, status: 401, code: via.code };
  if (!accepts.includes(via)) return { ok: false, status: 403, code: ErrorCode.insufficientScope };
  return { ok: true, via };
}

function presentedCredential(
  headers: IncomingHttpHeaders,
  url: URL,
  apiKeys: ApiKeys,
  sessions: SessionTokens,
): ClientCredential | { code: typeof ErrorCode.unauthorized | typeof ErrorCode.sessionExpired } {
  const bearer = bearerToken(headers.authorization);
  const keyParam = url.searchParams.get('api_key') || null;
  const sessionParam = url.searchParams.get(SESSION_QUERY_PARAM) || null;
  if (apiKeys.verify(bearer ?? keyParam)) return 'api_key';
  let expired = false;
  for (const token of [bearer, sessionParam]) {
    if (token === null) continue;
    const check = sessions.check(token);
    if (check.ok) return 'session';
    expired ||= check.reason === 'expired';
  }
  return { code: expired ? ErrorCode.sessionExpired : ErrorCode.unauthorized };
}

export function refusalMessage(code: ClientRefusal): string {
  switch (code) {
    case ErrorCode.sessionExpired:
      return 'the session token has expired: open a new session with the API key';
    case ErrorCode.insufficientScope:
      return 'a session token does not open this endpoint: it needs the API key';
    default:
      return 'a valid API key or session token is required';
  }
}

/** The `WWW-Authenticate` header of a refusal (RFC 6750 names the 403 case). */
export function challenge(code: ClientRefusal): string {
  return code === ErrorCode.insufficientScope ? 'Bearer error="insufficient_scope"' : 'Bearer';
}
