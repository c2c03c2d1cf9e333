/**
 * The page's credentials. The API key, once typed, lives in this object's memory only (never
 * in storage, a cookie or a URL); what the page actually presents is a short-lived session
 * token from `POST /v1/session`. A signed-in link brings a token without the key.
 *
 * When the hub refuses the token (a WebSocket upgrade that fails, a 401 on REST), `recover()`
 * asks `GET /v1/session` what is wrong: a token that still holds means the refusal was
 * something else (retry later); an expired or unknown one is replaced with the key in memory,
 * or else the person is asked for the key again.
 */
export const SESSION_PATH = '/v1/session';
/** Renew this long before the hub's expiry, so a token never runs out mid-handshake. */
export const RENEW_MARGIN_MS = 10_000;

export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string> },
) => Promise<{ status: number; json(): Promise<unknown> }>;

export interface SessionKeeperOptions {
  /** The hub's origin, `http://host:port` ('' in the page: same origin). */
  baseUrl: string;
  fetch: FetchLike;
  /** The page's clock, in ms; expiry is tracked from the hub's `expires_in_s`, not its clock. */
  now: () => number;
}

/** What a failed sign-in or check says to the person, with the hub's stable code. */
export class SessionError extends Error {
  override readonly name = 'SessionError';
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export type Recovery =
  /** The token holds: the refusal had another cause (the hub restarting): retry later. */
  | 'valid'
  /** A new token was made with the key in memory: retry now. */
  | 'renewed'
  /** No way in without the person: show the sign-in form (`expired` says why). */
  | 'ask'
  /** The hub did not answer: retry later. */
  | 'unreachable';

export class SessionKeeper {
  readonly #o: SessionKeeperOptions;
  #apiKey: string | null = null;
  #token: string | null = null;
  #expiresAtMs = 0;
  #expired = false;

  constructor(options: SessionKeeperOptions) {
    this.#o = options;
  }

  get signedIn(): boolean {
    return this.#token !== null;
  }

  /** True once a token ran out and no key was at hand to renew it. */
  get expired(): boolean {
    return this.#expired;
  }

  /** Exchanges the API key for a token; keeps the key in memory to renew with. */
  async signIn(apiKey: string): Promise<void> {
    const { status, body } = await this.#request('POST', apiKey);
    if (status !== 201) throw refusal(body, 'the hub refused the API key');
    this.#accept(body);
    this.#apiKey = apiKey;
  }

  /** Takes a token from a signed-in link, after the hub confirms it. */
  async adopt(token: string): Promise<void> {
    const { status, body } = await this.#request('GET', token);
    if (status !== 200) throw refusal(body, 'the link has expired');
    this.#accept({ ...(body as object), token });
  }

  /** A token good for a while yet (renewed with the key if needed), or null: ask the person. */
  async token(): Promise<string | null> {
    if (this.#token !== null && this.#o.now() < this.#expiresAtMs - RENEW_MARGIN_MS) {
      return this.#token;
    }
    if (this.#apiKey !== null) {
      try {
        await this.signIn(this.#apiKey);
        return this.#token;
      } catch {
        // Unreachable: keep the old token (if any) and let the caller's retry find out.
        return this.#token;
      }
    }
    if (this.#token !== null && this.#o.now() < this.#expiresAtMs) return this.#token;
    this.#forget(true);
    return null;
  }

  /** After the hub refused the token: what to do next. */
  async recover(): Promise<Recovery> {
    if (this.#token === null) return 'ask';
    let answer;
    try {
      answer = await this.#request('GET', this.#token);
    } catch {
      return 'unreachable';
    }
    if (answer.status === 200) return 'valid';
    if (answer.status !== 401) return 'unreachable';
    if (this.#apiKey !== null) {
      try {
        await this.signIn(this.#apiKey);
        return 'renewed';
      } catch (err) {
        if (!(err instanceof SessionError)) return 'unreachable';
        this.#apiKey = null; // the key itself is refused now (removed from the hub)
      }
    }
    this.#forget(true);
    return 'ask';
  }

  /** The header for REST calls. */
  authorization(): Record<string, string> {
    return this.#token === null ? {} : { Authorization: `Bearer ${this.#token}` };
  }

  signOut(): void {
    this.#apiKey = null;
    this.#forget(false);
  }

  #forget(expired: boolean): void {
    this.#token = null;
    this.#expiresAtMs = 0;
    this.#expired = expired;
  }

  #accept(body: unknown): void {
    const { token, expires_in_s: expiresInS } = body as { token?: unknown; expires_in_s?: unknown };
    if (typeof token !== 'string' || typeof expiresInS !== 'number' || !(expiresInS >= 0)) {
      throw new SessionError('invalid_payload', 'the hub answered the session request oddly');
    }
    this.#token = token;
    this.#expiresAtMs = this.#o.now() + expiresInS * 1000;
    this.#expired = false;
  }

  async #request(
    method: 'GET' | 'POST',
    bearer: string,
  ): Promise<{ status: number; body: unknown }> {
    const res = await this.#o.fetch(`${this.#o.baseUrl}${SESSION_PATH}`, {
      method,
      headers: { Authorization: `Bearer ${bearer}` },
    });
    const body = await res.json().catch(() => null);
    return { status: res.status, body };
  }
}

function refusal(body: unknown, fallback: string): SessionError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return new SessionError(
    typeof error?.code === 'string' ? error.code : 'unauthorized',
    typeof error?.message === 'string' ? error.message : fallback,
  );
}
