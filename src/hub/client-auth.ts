import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode } from '../protocol/error-codes.js';
import { bearerToken, type ApiKeys } from './auth.js';
import type { SessionTokens } from './session-tokens.js';

/**
 * Who may use the client API (`/v1/stream`, `/v1/devices`): the holder of an API key
 * (`Authorization: Bearer KEY` or `?api_key=KEY`, for backends) or of a live session token
 * (`Authorization: Bearer TOKEN` or `?session=TOKEN`, for browsers, which cannot set headers
 * on a WebSocket). A genuine but expired token is told apart (`session_expired`), so a page
 * knows to ask for a new one rather than retry.
 */
export type ClientAuthResult =
  | { ok: true; via: 'api_key' | 'session' }
  | { ok: false; code: typeof ErrorCode.unauthorized | typeof ErrorCode.sessionExpired };

export const SESSION_QUERY_PARAM = 'session';

export function authenticateClient(
  headers: IncomingHttpHeaders,
  url: URL,
  apiKeys: ApiKeys,
  sessions: SessionTokens,
): ClientAuthResult {
  const bearer = bearerToken(headers.authorization);
  const keyParam = url.searchParams.get('api_key') || null;
  const sessionParam = url.searchParams.get(SESSION_QUERY_PARAM) || null;
  if (apiKeys.verify(bearer ?? keyParam)) return { ok: true, via: 'api_key' };
  let expired = false;
  for (const token of [bearer, sessionParam]) {
    if (token === null) continue;
    const check = sessions.check(token);
    if (check.ok) return { ok: true, via: 'session' };
    expired ||= check.reason === 'expired';
  }
  return { ok: false, code: expired ? ErrorCode.sessionExpired : ErrorCode.unauthorized };
}

export function refusalMessage(code: ErrorCode): string {
  return code === ErrorCode.sessionExpired
    ? 'the session token has expired: open a new session with the API key'
    : 'a valid API key or session token is required';
}
