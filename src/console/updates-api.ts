import { CodedError } from '../protocol/coded-error.js';
import { hubRefusal, hubRequest, type HubFetch } from './hub-request.js';

/**
 * The console's client of agent updates (docs/protocol.md, "Agent updates: the hub"). Listing
 * the artifacts goes with the page's session token; asking a device to update needs the API key
 * itself (an update changes what runs on the device, as a command does): the caller passes the
 * key the person just typed, for this one request, and nothing here keeps it.
 */
export const ARTIFACTS_PATH = '/v1/artifacts';
export const UPDATES_PATH = '/v1/updates';

export interface ListedArtifact {
  version: string;
  arch: string;
  size: number;
  sha256: string;
}

export type UpdatesFetch = HubFetch;

export interface UpdatesApiOptions {
  baseUrl: string;
  fetch: UpdatesFetch;
  sessionAuthorization: () => Promise<Record<string, string>>;
}

/** A refusal with the hub's own code and message. */
export class UpdatesApiError extends CodedError {}

export class UpdatesApi {
  readonly #o: UpdatesApiOptions;

  constructor(options: UpdatesApiOptions) {
    this.#o = options;
  }

  /** The artifacts built for `arch`, newest version first (by upload order of equal names). */
  async artifactsFor(arch: string): Promise<ListedArtifact[]> {
    const body = await this.#request('GET', ARTIFACTS_PATH, await this.#o.sessionAuthorization());
    if (!Array.isArray(body))
      throw new UpdatesApiError('internal_error', 'odd answer from the hub');
    return (body as ListedArtifact[])
      .filter((a) => a.arch === arch)
      .sort((a, b) => b.version.localeCompare(a.version, 'en', { numeric: true }));
  }

  /** POST /v1/updates for one device. */
  async request(deviceId: string, version: string, apiKey: string): Promise<void> {
    await this.#request(
      'POST',
      UPDATES_PATH,
      { Authorization: `Bearer ${apiKey}` },
      { version, devices: [deviceId] },
    );
  }

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
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    const refusal = hubRefusal(answer.body);
    throw new UpdatesApiError(
      refusal.code ?? 'http_error',
      refusal.message ?? `HTTP ${answer.status}`,
    );
  }
}
