import { STATUS_CODES, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCode } from '../protocol/error-codes.js';

/** JSON answers: on an HTTP response, and raw on a socket whose WebSocket upgrade is refused. */
export function errorBody(
  code: string,
  message: string,
): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** 405, naming the methods the endpoint takes. */
export function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, errorBody(ErrorCode.methodNotAllowed, `allowed here: ${allow}`), {
    Allow: allow,
  });
}

/**
 * Refuses an upgrade before any WebSocket exists: an HTTP error response written on the raw
 * socket, which is then destroyed. The client sees the status (e.g. 401), never an open socket.
 * The answer to a `HEAD` request has no body (its client would read the body as a next response).
 */
export function rejectUpgrade(
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  method = 'GET',
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(code, message));
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${method === 'HEAD' ? '' : body}`);
}
