import { createHash } from 'node:crypto';
import type { ArtifactArch } from '../../src/protocol/update-artifact.js';
import { signArtifact } from '../../src/protocol/update-signature.js';
import type { FakeHub, FakeHubConnection } from './fake-hub.js';

/**
 * The hub's side of an update session, played by a test on a fake hub (JSON frames only): the
 * session_open of kind update, the artifact's bytes as session_input within the 1 MiB window
 * that input_consumed moves.
 */
/** A frame any connection got (the agent reconnects across restarts). */
export async function anyFrame(
  hub: FakeHub,
  predicate: (f: Record<string, unknown>) => boolean,
  timeoutMs = 30_000,
): Promise<{ connection: FakeHubConnection; frame: Record<string, unknown> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const connection of hub.connections) {
      const frame = connection.frames.find(predicate);
      if (frame) return { connection, frame };
    }
    if (Date.now() > deadline) throw new Error('no such frame from the agent');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const payloadOf = (f: Record<string, unknown>) => f.payload as Record<string, unknown>;
export const helloOf = (version: string) => (f: Record<string, unknown>) =>
  f.type === 'hello' && payloadOf(f).agent_version === version;

export interface Artifact {
  bytes: Buffer;
  version: string;
  arch: ArtifactArch;
  signingKey: string;
}

/**
 * Opens an update session as the hub's update manager would and sends the artifact's bytes
 * from the offset the agent names, at most 1 MiB ahead of its input_consumed; `sendBytes` cuts
 * the download short (then session_close).
 */
export async function pushUpdate(
  connection: FakeHubConnection,
  requestId: string,
  artifact: Artifact,
  options: { sendBytes?: number; claim?: Partial<Record<string, unknown>>; wire?: Buffer } = {},
): Promise<Record<string, unknown>> {
  const sha256 = createHash('sha256').update(artifact.bytes).digest('hex');
  const fields = {
    version: artifact.version,
    arch: artifact.arch,
    size: artifact.bytes.length,
    sha256,
  };
  const signature = signArtifact(fields, artifact.signingKey);
  connection.socket.send(
    JSON.stringify({
      type: 'session_open',
      request_id: requestId,
      payload: { kind: 'update', ...fields, signature, requested_by: 'test', ...options.claim },
    }),
  );
  const first = await connection.nextFrame(
    (f) => f.request_id === requestId && (f.type === 'session_opened' || f.type === 'error'),
    20_000,
  );
  if (first.type === 'error') return first;
  const offset = payloadOf(first).offset as number;
  const end = Math.min(artifact.bytes.length, offset + (options.sendBytes ?? Infinity));
  const CHUNK = 192 * 1024;
  for (let at = offset; at < end; at += CHUNK) {
    const sentAhead = at + CHUNK - offset;
    if (sentAhead > 1024 * 1024)
      await connection.nextFrame(
        (f) =>
          f.request_id === requestId &&
          f.type === 'input_consumed' &&
          (payloadOf(f).bytes as number) >= sentAhead - 1024 * 1024,
        20_000,
      );
    const data = (options.wire ?? artifact.bytes)
      .subarray(at, Math.min(end, at + CHUNK))
      .toString('base64');
    connection.socket.send(
      JSON.stringify({
        type: 'session_input',
        request_id: requestId,
        payload: { request_id: requestId, data },
      }),
    );
  }
  if (end < artifact.bytes.length)
    connection.socket.send(
      JSON.stringify({
        type: 'session_close',
        request_id: requestId,
        payload: { request_id: requestId },
      }),
    );
  return connection.nextFrame(
    (f) => f.request_id === requestId && (f.type === 'session_done' || f.type === 'error'),
    30_000,
  );
}
