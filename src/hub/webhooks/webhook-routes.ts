import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJson } from '../../protocol/bounded-json.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { API_KEY_ONLY, KEY_OR_SESSION, type ClientCredential } from '../client-auth.js';
import { errorBody, methodNotAllowed, sendJson } from '../http-reply.js';
import { decodedOrNull, readBody } from '../http-request.js';
import { withMaskedHeaders } from './webhook.js';
import { WebhookError, type Webhooks } from './webhooks.js';

/**
 * REST for webhooks (the API key is checked by the caller):
 *
 *     GET    /v1/webhooks             200 [webhook…]
 *     POST   /v1/webhooks             201 the stored webhook, with its id; 400 invalid_json (not
 *                                      JSON, or nested over MAX_JSON_DEPTH) or invalid_webhook;
 *                                      409 webhook_limit
 *     DELETE /v1/webhooks/{id}        204; 404 not_found (also for an id that is not valid
 *                                      percent-encoding)
 *     POST   /v1/webhooks/{id}/test   200 { status } or { status: null, failure, message }
 *                                      (test-message.ts); 404 not_found; 409 busy
 *
 * Both answers that show webhooks mask header values (webhook.ts, withMaskedHeaders).
 */
export const WEBHOOKS_PATH = '/v1/webhooks';
const TEST_SUFFIX = '/test';
const MAX_BODY_BYTES = 64 * 1024;

/**
 * Who may call: the listing, whose header values are masked, takes the console's session token
 * too; everything that changes the set or makes the hub send a request needs the API key itself
 * (a token must not set up an export that outlives it).
 */
export function webhooksScope(method: string | undefined): readonly ClientCredential[] {
  return method === 'GET' || method === 'HEAD' ? KEY_OR_SESSION : API_KEY_ONLY;
}

export function isWebhooksPath(pathname: string): boolean {
  return pathname === WEBHOOKS_PATH || pathname.startsWith(`${WEBHOOKS_PATH}/`);
}

export async function handleWebhooks(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  webhooks: Webhooks,
): Promise<void> {
  if (pathname === WEBHOOKS_PATH) {
    if (req.method === 'GET' || req.method === 'HEAD')
      return sendJson(res, 200, webhooks.list().map(withMaskedHeaders));
    if (req.method === 'POST') return create(req, res, webhooks);
    return methodNotAllowed(res, 'GET, HEAD, POST');
  }
  const rest = pathname.slice(WEBHOOKS_PATH.length + 1);
  if (rest.endsWith(TEST_SUFFIX)) {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    return sendTest(res, rest.slice(0, -TEST_SUFFIX.length), webhooks);
  }
  if (req.method !== 'DELETE') return methodNotAllowed(res, 'DELETE');
  const id = decodedOrNull(rest);
  if (id === null || !webhooks.remove(id)) return noSuchWebhook(res, id ?? rest);
  res.writeHead(204).end();
}

async function sendTest(res: ServerResponse, raw: string, webhooks: Webhooks): Promise<void> {
  const id = decodedOrNull(raw);
  try {
    const outcome = id === null ? undefined : await webhooks.sendTest(id);
    if (outcome === undefined) return noSuchWebhook(res, id ?? raw);
    return sendJson(res, 200, outcome);
  } catch (err) {
    if (!(err instanceof WebhookError)) throw err;
    return sendJson(res, 409, errorBody(err.code, err.message));
  }
}

function noSuchWebhook(res: ServerResponse, id: string): void {
  sendJson(res, 404, errorBody(ErrorCode.notFound, `no webhook "${id.slice(0, 100)}"`));
}

async function create(
  req: IncomingMessage,
  res: ServerResponse,
  webhooks: Webhooks,
): Promise<void> {
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body === null) {
    return sendJson(
      res,
      413,
      errorBody(
        ErrorCode.payloadTooLarge,
        `a webhook definition is at most ${MAX_BODY_BYTES} bytes`,
      ),
      { Connection: 'close' },
    );
  }
  const json = decodeJson(body, { maxBytes: MAX_BODY_BYTES });
  if (!json.ok) {
    return sendJson(res, 400, errorBody(ErrorCode.invalidJson, `body is ${json.message}`));
  }
  try {
    return sendJson(res, 201, withMaskedHeaders(webhooks.add(json.value)));
  } catch (err) {
    if (!(err instanceof WebhookError)) throw err;
    return sendJson(
      res,
      err.code === ErrorCode.webhookLimit ? 409 : 400,
      errorBody(err.code, err.message),
    );
  }
}
