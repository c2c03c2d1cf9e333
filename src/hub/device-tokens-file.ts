import { DEVICE_ID_PATTERN } from '../protocol/fields.js';
import { CodedError } from '../protocol/coded-error.js';
import { LogCode } from '../log/log-codes.js';

/**
 * `--device-tokens FILE`: the fleet's device credentials, one device a line, read by the hub
 * (at start and on SIGHUP) and by `broker-config mosquitto`:
 *
 *     # comments and blank lines are skipped
 *     sensor-0001=Yq3t0cFh2p8m4Zr1vWk9Lb6N          the token itself (16 to 512 characters)
 *     sensor-0002=sha256:9f86d081884c7d65…           its SHA-256, 64 hex digits
 *
 * `ID=` is the same as `--device-token ID=TOKEN`; the id follows the device-id rule. A token is
 * printable ASCII without spaces (it travels in an `Authorization: Bearer` header) and at least
 * 16 characters: the hub keeps SHA-256 digests, enough for random tokens only (README says why),
 * and the floor turns away the short hand-typed ones. A `sha256:` line lets the file the hub reads
 * hold no token at all; `broker-config` refuses it (mosquitto's `$7$` hash needs the token).
 *
 * Everything is bounded before it is kept: the file's bytes, each line's length and the number
 * of devices. A bad line is a DeviceTokensFileError naming `FILE:LINE` and what was wrong; a file
 * is taken whole or not at all.
 */
export const MAX_DEVICE_TOKENS_FILE_BYTES = 64 * 1024 * 1024;
export const MAX_DEVICE_TOKENS_LINE_CHARS = 1024;
export const MAX_DEVICE_TOKENS = 1_000_000;
export const MIN_TOKEN_CHARS = 16;
export const MAX_TOKEN_CHARS = 512;
export const SHA256_PREFIX = 'sha256:';

const TOKEN_PATTERN = /^[\x21-\x7e]+$/;
const SHA256_HEX_PATTERN = /^[0-9a-fA-F]{64}$/;

/** A device's secret as the file gives it: the token, or only its SHA-256 digest. */
export type DeviceSecret = { kind: 'token'; token: string } | { kind: 'sha256'; digest: Buffer };

export interface DeviceTokenEntry {
  deviceId: string;
  secret: DeviceSecret;
  /** 1-based, for messages. */
  line: number;
}

export class DeviceTokensFileError extends CodedError {
  constructor(message: string) {
    super(LogCode.deviceTokensInvalid, message);
  }
}

/**
 * Parses the file's content (`path` names it in errors) into its entries; an id given twice is
 * refused. Two devices sharing a token are refused where the digests are compared
 * (device-credentials.ts).
 */
export function parseDeviceTokensFile(content: Buffer | string, path: string): DeviceTokenEntry[] {
  const entries: DeviceTokenEntry[] = [];
  const lineOf = new Map<string, number>();
  for (const entry of deviceTokenEntries(content, path)) {
    const earlier = lineOf.get(entry.deviceId);
    if (earlier !== undefined) {
      fail(
        path,
        entry.line,
        `device "${entry.deviceId}" is given again (first on line ${earlier})`,
      );
    }
    lineOf.set(entry.deviceId, entry.line);
    entries.push(entry);
  }
  return entries;
}

/**
 * The same, one entry at a time and without the check for ids given twice (its consumer makes
 * it): a 100,000-line file then never holds 100,000 entries at once, only what is kept of them.
 */
export function* deviceTokenEntries(
  content: Buffer | string,
  path: string,
): Generator<DeviceTokenEntry> {
  const bytes = typeof content === 'string' ? Buffer.byteLength(content) : content.length;
  if (bytes > MAX_DEVICE_TOKENS_FILE_BYTES) {
    throw new DeviceTokensFileError(
      `${path}: ${bytes} bytes, more than the ${MAX_DEVICE_TOKENS_FILE_BYTES} a device tokens file may hold`,
    );
  }
  const text = typeof content === 'string' ? content : content.toString('utf8');
  let count = 0;
  let start = 0;
  let number = 0;
  while (start <= text.length) {
    const end = nextLineEnd(text, start);
    number += 1;
    const raw = text.slice(start, end);
    start = end + 1;
    if (raw.length > MAX_DEVICE_TOKENS_LINE_CHARS) {
      fail(
        path,
        number,
        `a line of ${raw.length} characters (at most ${MAX_DEVICE_TOKENS_LINE_CHARS})`,
      );
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (count === MAX_DEVICE_TOKENS) fail(path, number, `more than ${MAX_DEVICE_TOKENS} devices`);
    count += 1;
    yield parseLine(line, path, number);
  }
}

function nextLineEnd(text: string, from: number): number {
  const end = text.indexOf('\n', from);
  return end < 0 ? text.length : end;
}

function parseLine(line: string, path: string, number: number): DeviceTokenEntry {
  const eq = line.indexOf('=');
  if (eq < 0) fail(path, number, 'expected DEVICE_ID=TOKEN or DEVICE_ID=sha256:HEX, got no "="');
  const deviceId = line.slice(0, eq).trimEnd();
  const value = line.slice(eq + 1).trimStart();
  if (!DEVICE_ID_PATTERN.test(deviceId)) {
    fail(
      path,
      number,
      `expected a device id matching ${DEVICE_ID_PATTERN}, got "${clip(deviceId)}"`,
    );
  }
  if (value.startsWith(SHA256_PREFIX)) {
    const hex = value.slice(SHA256_PREFIX.length);
    if (!SHA256_HEX_PATTERN.test(hex)) {
      fail(path, number, `device "${deviceId}": expected sha256: and 64 hex digits`);
    }
    return { deviceId, secret: { kind: 'sha256', digest: Buffer.from(hex, 'hex') }, line: number };
  }
  if (value.length === 0) fail(path, number, `device "${deviceId}": expected a token after "="`);
  if (!TOKEN_PATTERN.test(value)) {
    fail(path, number, `device "${deviceId}": a token is printable ASCII without spaces`);
  }
  if (value.length < MIN_TOKEN_CHARS || value.length > MAX_TOKEN_CHARS) {
    // The message never holds the token, only its length: it goes to logs.
    fail(
      path,
      number,
      `device "${deviceId}": a token of ${value.length} characters (expected ${MIN_TOKEN_CHARS} to ${MAX_TOKEN_CHARS}, random)`,
    );
  }
  return { deviceId, secret: { kind: 'token', token: value }, line: number };
}

function fail(path: string, line: number, problem: string): never {
  throw new DeviceTokensFileError(`${path}:${line}: ${problem}`);
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
