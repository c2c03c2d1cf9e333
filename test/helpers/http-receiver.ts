import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Owner } from './owner.js';

/**
 * A real HTTP server on 127.0.0.1:0 standing in for a webhook receiver. Each request is recorded
 * with its headers and JSON body; `respond` decides the answer (status, or 'hang' to never
 * answer). Waits are event-driven with deadlines. It is closed when `owner` (the test) ends.
 */
export interface ReceivedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export type Responder = (request: ReceivedRequest, index: number) => number | 'hang';

export interface HttpReceiver {
  url: string;
  requests: ReceivedRequest[];
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Idempotent; also registered with the owner. */
  close(): Promise<void>;
}

export async function startReceiver(
  owner: Owner,
  respond: Responder = () => 200,
): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      const request = { path: req.url ?? '/', headers: req.headers, body };
      const index = requests.push(request) - 1;
      for (const waiter of waiters) waiter();
      const answer = respond(request, index);
      if (answer === 'hang') hanging.add(res);
      else res.writeHead(answer).end();
    });
  });
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    })());
  owner.after(close);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    waitFor(count, timeoutMs = 5_000) {
      if (requests.length >= count) return Promise.resolve(requests.slice(0, count));
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (requests.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests.slice(0, count));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${requests.length} of ${count} requests within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    close,
  };
}
