import type { ByteFrame } from '../protocol/byte-frame.js';

/**
 * What the console's two file transfers (file-upload.ts, file-download.ts) share: how they
 * send, what they report while they run and how they end. Both are sessions of the wire's
 * session kinds `file_put` and `file_get` (docs/protocol.md, "Sessions of several kinds"):
 * `session_open` under a request_id and a stream number of the page's, bytes as binary frames,
 * exactly one `session_done` (after an `error` when the device refused).
 */
export interface TransferTransport {
  send(message: { type: string; payload: Record<string, unknown>; request_id?: string }): boolean;
  sendBytes(frame: ByteFrame): boolean;
}

export type TransferPhase =
  | 'hashing' // upload: reading the file once for its sha256, which the open carries
  | 'opening' // session_open sent, waiting for session_opened
  | 'sending' // upload: bytes going out under the window
  | 'receiving' // download: bytes coming in
  | 'verifying'; // everything sent or received: waiting for the device's session_done

export interface TransferProgress {
  phase: TransferPhase;
  /** Bytes hashed / written by the device (upload) / received (download). */
  done: number;
  /** The file's size; null while a download's size is not known yet. */
  total: number | null;
}

export type TransferResult =
  { ok: true; bytes: number; sha256: string } | { ok: false; code: string; message: string };

/**
 * Codes of the console's own for transfers that end without an error from the device (the
 * device's codes, `file_denied`, `file_corrupt` and the rest, are passed on as they come).
 */
export const TransferError = {
  /** The user pressed Cancel, or picked another device. */
  cancelled: 'cancelled',
  /** The hub connection dropped: the hub ends the session on the device. */
  connectionLost: 'connection_lost',
  /** The file could not be read in the browser (changed or removed since it was picked). */
  readFailed: 'read_failed',
  /** A download over MAX_DOWNLOAD_BYTES (file-download.ts). */
  tooLarge: 'too_large',
  /** The sha256 the device reported is not the one of the bytes this page sent or received. */
  sha256Mismatch: 'sha256_mismatch',
  /** The device's replies broke the contract (more bytes than the size it announced, …). */
  protocol: 'protocol_error',
  /** The device ended the session with no error and no success (exit code not 0). */
  failed: 'failed',
  /** The page could not send `session_open` (not connected to the hub, or busy). */
  notSent: 'not_sent',
} as const;

export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** How a `session_done` that is not a success reads: the device's error, else its exit. */
export function failureOf(
  done: Record<string, unknown>,
  error: { code: string; message: string } | undefined,
): TransferResult {
  if (error) return { ok: false, ...error };
  const exit = done['exit_code'];
  return {
    ok: false,
    code: TransferError.failed,
    message: `the device ended the transfer (exit ${exit === null ? 'none' : String(exit)})`,
  };
}

/** An `error` frame's payload as the transfers keep it. */
export function errorOf(payload: Record<string, unknown>): { code: string; message: string } {
  return {
    code: String(payload['code']),
    message: typeof payload['message'] === 'string' ? payload['message'] : '',
  };
}
