/**
 * How a webhook request leaves the hub: one POST, answered with its HTTP status. Injected into
 * the post queues, so tests can count attempts without a network; the real one is fetch.
 * Network failures reject; the abort signal ends a request that takes too long.
 */
export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type Poster = (request: WebhookRequest, signal: AbortSignal) => Promise<number>;

export const fetchPoster: Poster = async ({ url, headers, body }, signal) => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
    body,
    signal,
    redirect: 'manual', // a webhook answers where it is; following redirects would leak headers
  });
  // The answer's body means nothing to us; release the connection without reading it.
  await response.body?.cancel().catch(() => {});
  return response.status;
};
