import { createHash, randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import { ByteFd, ByteKind, decodeByteFrame } from '../../src/protocol/byte-frame.js';
import { SESSION_WINDOW_BYTES } from '../../src/protocol/sessions.js';
import {
  API_KEY,
  openDevice,
  sayHello,
  waitFor,
  type Frame,
  type Peer,
  type TestHub,
} from './ws.js';

/**
 * A device that takes an agent update as the agent's `update` session kind does on the wire
 * (docs/protocol.md, "Updating the agent"): `session_opened` with the offset it already has,
 * fd 0 frames taken and reported with `input_consumed` (cumulative for the session), and at the
 * eof a sha256 check and `session_done` {exit_code 0}. It keeps the bytes' count and hash, not the
 * bytes. `autoConsume: false` makes it a slow reader: nothing is reported taken until `consume`.
 */
export interface UpdateDevice extends Peer {
  /** The last update session's open payload. */
  open: Frame | null;
  /** Bytes received in the current session (from its offset). */
  received: number;
  /** Most bytes ever received beyond what had been reported taken (the hub's window at work). */
  maxAhead: number;
  sha256: string | null;
  consume(bytes: number): void;
  reported: number;
}

export interface UpdateDeviceOptions {
  deviceId: string;
  token: string;
  arch: string;
  agentVersion: string;
  /** Reports input_consumed as soon as bytes arrive (default true). */
  autoConsume?: boolean;
  /** The offset its session_opened says (bytes it claims to have), with those bytes' content. */
  resumeFrom?: Buffer;
  /** Answers the open with this error instead of taking the update. */
  refuse?: { code: string; message: string };
}

export async function updateDevice(
  hub: TestHub,
  options: UpdateDeviceOptions,
): Promise<UpdateDevice> {
  const peer = await openDevice(hub.wsUrl, options.deviceId, options.token);
  let hash = createHash('sha256');
  let requestId: string | null = null;
  let stream = 0;
  const device: UpdateDevice = Object.assign(peer, {
    open: null as Frame | null,
    received: 0,
    maxAhead: 0,
    sha256: null as string | null,
    reported: 0,
    consume(bytes: number) {
      device.reported = Math.min(device.received, device.reported + bytes);
      if (requestId !== null)
        peer.send({
          type: 'input_consumed',
          request_id: requestId,
          payload: { bytes: device.reported },
        });
    },
  });
  peer.ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    if (!isBinary) return;
    const decoded = decodeByteFrame(data as Buffer);
    if (!decoded.ok || decoded.frame.stream !== stream || decoded.frame.fd !== ByteFd.stdin) return;
    const { frame } = decoded;
    if (frame.kind === ByteKind.data) {
      hash.update(frame.data);
      device.received += frame.data.length;
      device.maxAhead = Math.max(device.maxAhead, device.received - device.reported);
      if (options.autoConsume !== false) device.consume(frame.data.length);
      return;
    }
    device.sha256 = hash.digest('hex');
    peer.send({
      type: 'session_done',
      request_id: requestId,
      payload: { exit_code: 0, bytes: device.received },
    });
  });
  const watch = (): void => {
    void peer.inbox
      .next((f) => f.type === 'session_open' && f.payload.kind === 'update', 600_000)
      .then(
        (open) => {
          device.open = open;
          requestId = open.request_id ?? null;
          stream = Number(open.payload.stream);
          device.received = 0;
          device.reported = 0;
          hash = createHash('sha256');
          if (options.refuse) {
            peer.send({ type: 'error', request_id: requestId, payload: options.refuse });
            peer.send({
              type: 'session_done',
              request_id: requestId,
              payload: { exit_code: null },
            });
          } else {
            const offset = options.resumeFrom?.length ?? 0;
            if (options.resumeFrom) hash.update(options.resumeFrom);
            peer.send({ type: 'session_opened', request_id: requestId, payload: { offset } });
          }
          watch();
        },
        () => {},
      );
  };
  watch();
  await sayHello(
    peer,
    { capabilities: ['bytes', 'update'], arch: options.arch, agent_version: options.agentVersion },
    options.deviceId,
  );
  return device;
}

/** A signature file's shape for `bytes` (the hub checks its fields, not the signature). */
export function signatureFor(
  version: string,
  arch: string,
  bytes: Buffer,
): Record<string, unknown> {
  return {
    format: 'iottly-agent-signature/1',
    version,
    arch,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    key_id: '0123456789abcdef',
    signature: randomBytes(64).toString('base64'),
  };
}

/** PUT /v1/artifacts/{version}/{arch} with the signature header. */
export async function uploadArtifact(
  hub: TestHub,
  version: string,
  arch: string,
  bytes: Buffer,
  signature: unknown = signatureFor(version, arch, bytes),
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${hub.url}/v1/artifacts/${version}/${arch}`, {
    method: 'PUT',
    headers: {
      Authorization: `Bearer ${API_KEY}`,
      'Content-Type': 'application/octet-stream',
      'X-Iottly-Signature': Buffer.from(JSON.stringify(signature)).toString('base64'),
    },
    body: new Uint8Array(bytes),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : JSON.parse(text) };
}

/** Waits until the device's update (as /v1/updates shows it) is in `state`. */
export async function waitForUpdateState(
  hub: TestHub,
  deviceId: string,
  state: string,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(() => hub.hub.updates?.state(deviceId)?.state === state, timeoutMs);
}

export { SESSION_WINDOW_BYTES };
