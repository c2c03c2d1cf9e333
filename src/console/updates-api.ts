import { CodedError } from '../protocol/coded-error.js';

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

export type UpdatesFetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; json(): Promise<unknown> }>;

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
    const res = await this.#o.fetch(`${this.#o.baseUrl}${path}`, {
      method,
      headers: {
        ...headers,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const answer = await res.json().catch(() => null);
    if (res.status >= 200 && res.status < 300) return answer;
    const error = (answer as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    throw new UpdatesApiError(
      typeof error?.code === 'string' ? error.code : 'http_error',
      typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`,
    );
  }
}
