/**
 * File transfers on the wire (docs/protocol.md, "File transfers"): the `session_open` payloads
 * of the kinds `file_put` (client → device file) and `file_get` (device file → client), checked
 * by the agent (the hub checks only device_id, kind and stream), and what the temporary files
 * beside a target are called. Both ends hash with sha256; bytes travel under the session window.
 */
import { streamNumber } from './byte-frame.js';
import { deviceId } from './fields.js';
import { number, object, optional, string, type Infer } from './schema.js';

/** PATH_MAX on Linux: a longer path could not be opened anyway. */
export const MAX_FILE_PATH_CHARS = 4096;
/** Largest size or offset a transfer may name: exact in a JSON number. */
export const MAX_FILE_BYTES = Number.MAX_SAFE_INTEGER;
/** Permission bits a `file_put` may ask for: rwx for all three, setuid, setgid, sticky. */
export const MAX_FILE_MODE = 0o7777;
/** A file's mode when neither the request nor an existing target says. */
export const DEFAULT_FILE_MODE = 0o644;
export const SHA256_HEX = /^[0-9a-f]{64}$/;
/** A user name as useradd accepts it (or a numeric uid). */
const OWNER_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/;

/** An absolute path without NUL bytes; `..` is checked against the roots later, not here. */
export const filePath = () =>
  string({ minLength: 1, maxLength: MAX_FILE_PATH_CHARS, pattern: /^\/[^\0]*$/ });
const byteCount = () => number({ integer: true, min: 0, max: MAX_FILE_BYTES });

export const filePutPayload = object({
  device_id: optional(deviceId()),
  path: filePath(),
  size: byteCount(),
  sha256: string({ pattern: SHA256_HEX }),
  mode: optional(number({ integer: true, min: 0, max: MAX_FILE_MODE })),
  owner: optional(string({ pattern: OWNER_PATTERN })),
  stream: optional(streamNumber()),
});
export type FilePutPayload = Infer<typeof filePutPayload>;

export const fileGetPayload = object({
  device_id: optional(deviceId()),
  path: filePath(),
  offset: optional(byteCount()),
  stream: optional(streamNumber()),
});
export type FileGetPayload = Infer<typeof fileGetPayload>;

/**
 * The device's temporary file for an upload of `name` with this sha256: beside the target, so
 * the rename is atomic, and named for the content, so a resume continues only the same file.
 */
export function devicePartName(name: string, sha256: string): string {
  return `.${name}.${sha256.slice(0, 16)}.iottly-part`;
}

/** The client's temporary file for a download to `name` (beside it, renamed when verified). */
export function clientPartName(name: string): string {
  return `.${name}.iottly-part`;
}
