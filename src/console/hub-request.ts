/**
 * One JSON request from the console to the hub's REST API, for its clients (webhooks, updates):
 * the JSON body goes with its Content-Type, and the answer comes back as its status and JSON
 * body (null for a 204 or a body that is not JSON). What counts as a refusal, and the error it
 * becomes, is each client's.
 */
export type HubFetch = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; json(): Promise<unknown> }>;

export interface HubAnswer {
  status: number;
  body: unknown;
}

export async function hubRequest(
  fetch: HubFetch,
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<HubAnswer> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { ...headers, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = res.status === 204 ? null : await res.json().catch(() => null);
  return { status: res.status, body: answer };
}

/** The hub's `{ "error": { "code", "message" } }` of a refusal, the parts it gave. */
export function hubRefusal(body: unknown): { code?: string; message?: string } {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return {
    ...(typeof error?.code === 'string' ? { code: error.code } : {}),
    ...(typeof error?.message === 'string' ? { message: error.message } : {}),
  };
}
