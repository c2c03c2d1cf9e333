import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJson } from '../../protocol/bounded-json.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { MAX_SIGNATURE_BYTES } from '../../protocol/updates.js';
import { updateRequestPayload } from '../../protocol/update-request.js';
import { errorBody, methodNotAllowed, sendJson } from '../http-reply.js';
import { decodedOrNull, readBody } from '../http-request.js';
import type { ArtifactStore } from './artifact-store.js';
import type { UpdateManager } from './update-manager.js';

/**
 * REST for agent updates (docs/protocol.md, "Agent updates (REST)"):
 *
 *     GET    /v1/artifacts                       the artifacts: version, arch, size, sha256
 *     PUT    /v1/artifacts/{version}/{arch}      upload: the binary as the body, its signature
 *                                               file base64 in `X-Iottly-Signature`
 *     GET    /v1/artifacts/{version}/{arch}      one artifact's description
 *     DELETE /v1/artifacts/{version}/{arch}      204
 *     POST   /v1/updates                         {version, devices | arch | all, downgrade?} → 202
 *     GET    /v1/updates                         every device's last update
 *
 * Without `--artifacts` (nor `--state-dir`) the hub keeps no artifacts: 404 with a message.
 */
export const ARTIFACTS_PATH = '/v1/artifacts';
export const UPDATES_PATH = '/v1/updates';
export const SIGNATURE_HEADER = 'x-iottly-signature';
/** An update request: a version and up to 10,000 device ids. */
export const MAX_UPDATE_BODY_BYTES = 1024 * 1024;

const ARTIFACT = /^\/v1\/artifacts\/([^/]+)\/([^/]+)$/;

export type UpdateRoute =
  { kind: 'artifacts' } | { kind: 'artifact'; version: string; arch: string } | { kind: 'updates' };

export function updateRoute(pathname: string): UpdateRoute | null {
  if (pathname === ARTIFACTS_PATH) return { kind: 'artifacts' };
  if (pathname === UPDATES_PATH) return { kind: 'updates' };
  const match = ARTIFACT.exec(pathname);
  if (!match) return null;
  const version = decodedOrNull(match[1] ?? '');
  const arch = decodedOrNull(match[2] ?? '');
  return version === null || arch === null ? null : { kind: 'artifact', version, arch };
}

/** Whether the request only reads (a session token may list artifacts and updates). */
export function isReadOnly(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

export async function handleUpdates(
  req: IncomingMessage,
  res: ServerResponse,
  route: UpdateRoute,
  store: ArtifactStore | null,
  updates: UpdateManager | null,
): Promise<void> {
  if (!store || !updates)
    return sendJson(
      res,
      404,
      errorBody(
        ErrorCode.notFound,
        'this hub keeps no agent artifacts: start it with --artifacts DIR (or --state-dir DIR)',
      ),
    );
  switch (route.kind) {
    case 'artifacts':
      if (!isReadOnly(req)) return methodNotAllowed(res, 'GET, HEAD');
      return sendJson(res, 200, store.list());
    case 'updates':
      if (isReadOnly(req)) return sendJson(res, 200, updates.states());
      if (req.method !== 'POST') return methodNotAllowed(res, 'GET, HEAD, POST');
      return requestUpdate(req, res, updates);
    case 'artifact':
      if (isReadOnly(req)) {
        const artifact = store.get(route.version, route.arch);
        if (!artifact) return noArtifact(res, route.version, route.arch);
        const { version, arch, size, sha256, uploaded_at } = artifact;
        return sendJson(res, 200, { version, arch, size, sha256, uploaded_at });
      }
      if (req.method === 'DELETE') {
        if (!(await store.delete(route.version, route.arch)))
          return noArtifact(res, route.version, route.arch);
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'PUT') return upload(req, res, route.version, route.arch, store);
      return methodNotAllowed(res, 'GET, HEAD, PUT, DELETE');
  }
}

async function upload(
  req: IncomingMessage,
  res: ServerResponse,
  version: string,
  arch: string,
  store: ArtifactStore,
): Promise<void> {
  // Refused before a byte of the body is read: the connection is closed after the answer, so
  // a client that sends on does not make the hub read (or store) it.
  const refuseEarly = (status: number, code: string, message: string): void =>
    sendJson(res, status, errorBody(code, message), { Connection: 'close' });
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > store.maxBytes)
    return refuseEarly(
      413,
      ErrorCode.payloadTooLarge,
      `an artifact is at most ${store.maxBytes} bytes (--artifact-max-bytes)`,
    );
  const header = req.headers[SIGNATURE_HEADER];
  if (typeof header !== 'string' || header.length === 0)
    return refuseEarly(
      400,
      ErrorCode.invalidArtifact,
      'X-Iottly-Signature: expected the signature file (iottly-agent sign), base64',
    );
  if (
    header.length > Math.ceil((MAX_SIGNATURE_BYTES * 4) / 3) + 4 ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(header)
  )
    return refuseEarly(
      400,
      ErrorCode.invalidArtifact,
      `X-Iottly-Signature: expected base64 of at most ${MAX_SIGNATURE_BYTES} bytes`,
    );
  const signature = Buffer.from(header, 'base64').toString('utf8');
  const result = await store.put(version, arch, signature, req);
  if (!result.ok) {
    req.resume(); // a refusal after the body was read to its end: nothing is left to read
    return refuseEarly(result.status, result.code, result.message);
  }
  return sendJson(res, 201, result.artifact, {
    Location: `/v1/artifacts/${encodeURIComponent(version)}/${encodeURIComponent(arch)}`,
  });
}

async function requestUpdate(
  req: IncomingMessage,
  res: ServerResponse,
  updates: UpdateManager,
): Promise<void> {
  const body = await readBody(req, MAX_UPDATE_BODY_BYTES);
  if (body === null)
    return sendJson(
      res,
      413,
      errorBody(
        ErrorCode.payloadTooLarge,
        `an update request is at most ${MAX_UPDATE_BODY_BYTES} bytes`,
      ),
      { Connection: 'close' },
    );
  const json = decodeJson(body, { maxBytes: MAX_UPDATE_BODY_BYTES });
  if (!json.ok)
    return sendJson(res, 400, errorBody(ErrorCode.invalidJson, `body is ${json.message}`));
  const payload = updateRequestPayload(json.value, 'body');
  if (!payload.ok) return sendJson(res, 400, errorBody(ErrorCode.invalidPayload, payload.error));
  const started = updates.request(payload.value);
  if (!started.ok)
    return sendJson(res, started.status, errorBody(started.error.code, started.error.message));
  return sendJson(res, 202, { version: started.version, devices: started.devices });
}

function noArtifact(res: ServerResponse, version: string, arch: string): void {
  sendJson(
    res,
    404,
    errorBody(ErrorCode.notFound, `no artifact ${clip(version)}/${clip(arch)} on this hub`),
  );
}

function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}
