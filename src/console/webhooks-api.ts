import { CodedError } from '../protocol/coded-error.js';
import { hubRefusal, hubRequest, type HubFetch } from './hub-request.js';

/**
 * The console's client of `/v1/webhooks` (docs/protocol.md, REST). Listing goes with the page's
 * session token (the hub masks header values, so the list holds no secret). Creating, deleting
 * and sending a test message need the API key itself: the caller passes the key the person just
 * typed, it goes in this one request's `Authorization` header and is not kept here.
 *
 * A refusal becomes a WebhooksApiError carrying the hub's own code and message, which the page
 * shows as it is: the rules (5 webhooks, 5 headers, https, …) live in the hub only.
 */
export const WEBHOOKS_PATH = '/v1/webhooks';

export interface ListedWebhook {
  id: string;
  description: string;
  url: string;
  type: string;
  channel?: string;
  payload_only?: boolean;
  /** Names with masked values (`"***"`): the hub never answers with the real ones. */
  headers?: Record<string, string>;
}

/** What the hub answered a test message with (`POST /v1/webhooks/{id}/test`). */
export type TestOutcome = { status: number } | { status: null; failure: string; message: string };

export type WebhookFetch = HubFetch;

export interface WebhooksApiOptions {
  /** The hub's origin ('' in the page: same origin). */
  baseUrl: string;
  fetch: WebhookFetch;
  /** The session's `Authorization` header, for the listing. */
  sessionAuthorization: () => Promise<Record<string, string>>;
}

/** A refusal with the hub's own `code` and message. */
export class WebhooksApiError extends CodedError {}

export class WebhooksApi {
  readonly #o: WebhooksApiOptions;

  constructor(options: WebhooksApiOptions) {
    this.#o = options;
  }

  async list(): Promise<ListedWebhook[]> {
    const body = await this.#request('GET', WEBHOOKS_PATH, await this.#o.sessionAuthorization());
    if (!Array.isArray(body)) throw oddAnswer();
    return body as ListedWebhook[];
  }

  async create(spec: Record<string, unknown>, apiKey: string): Promise<ListedWebhook> {
    return (await this.#request('POST', WEBHOOKS_PATH, bearer(apiKey), spec)) as ListedWebhook;
  }

  async remove(id: string, apiKey: string): Promise<void> {
    await this.#request('DELETE', `${WEBHOOKS_PATH}/${encodeURIComponent(id)}`, bearer(apiKey));
  }

  async sendTest(id: string, apiKey: string): Promise<TestOutcome> {
    const path = `${WEBHOOKS_PATH}/${encodeURIComponent(id)}/test`;
    const body = await this.#request('POST', path, bearer(apiKey));
    const status = (body as { status?: unknown } | null)?.status;
    if (typeof status !== 'number' && status !== null) throw oddAnswer();
    return body as TestOutcome;
  }

  /** The answer's JSON body (null for a 204); a WebhooksApiError for any 4xx/5xx. */
  async #request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<unknown> {
    const answer = await hubRequest(
      this.#o.fetch,
      `${this.#o.baseUrl}${path}`,
      method,
      headers,
      body,
    );
    if (answer.status < 400) return answer.body;
    const refusal = hubRefusal(answer.body);
    throw new WebhooksApiError(
      refusal.code ?? `http_${answer.status}`,
      refusal.message ?? `the hub answered ${answer.status}`,
    );
  }
}

/** A test message's outcome for people: the receiver's status, or why there was none. */
export function describeTestOutcome(outcome: TestOutcome): string {
  if (outcome.status === null) return `${outcome.failure}: ${outcome.message}`;
  return `receiver answered HTTP ${outcome.status}`;
}

function bearer(apiKey: string): Record<string, string> {
  return { Authorization: `Bearer ${apiKey}` };
}

function oddAnswer(): WebhooksApiError {
  return new WebhooksApiError('invalid_payload', 'the hub answered the webhook request oddly');
}
