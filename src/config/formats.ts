import convict from 'convict';
import { allowEnvList } from '../commands/env-policy.js';
import { APP_NAME_PATTERN } from '../protocol/apps.js';
import { decodeJson } from '../protocol/bounded-json.js';
import { forwardAllowList } from '../forward/forward-targets.js';
import { MAX_OPEN_REQUESTS } from '../protocol/to-hub.js';
import type { Validator } from '../protocol/schema.js';
import { isPublicKeyText } from '../protocol/update-signature.js';
import {
  builtinStreamList,
  customStreams,
  interfaceList,
  perStreamSettings,
} from '../telemetry/stream-specs.js';

/**
 * Strict formats for convict. Convict's built-in numeric coercion is `parseInt`, which turns
 * "30s" into 30 without complaint; ours leave anything that is not exactly a number as it is, so
 * validation rejects it and names the key.
 */
function strictInteger(value: unknown): unknown {
  return typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
}

function integerFormat(name: string, min: number, max: number): void {
  convict.addFormat({
    name,
    coerce: strictInteger,
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        throw new Error(`must be an integer from ${min} to ${max}`);
      }
    },
  });
}

export const Format = {
  /** A duration in milliseconds, 1 ms to 1 day. */
  ms: 'duration-ms',
  /** A count or size, 1 to 2^40. */
  positiveInt: 'positive-int',
  /** Requests held open at once, 1 to 1024 (what `hello.open_requests` can list). */
  openRequestLimit: 'open-request-limit',
  /** The hub's URL: ws:// or wss:// (WebSocket), mqtt:// or mqtts:// (an MQTT 5 broker). */
  serverUrl: 'server-url',
  /** A path to a file, or empty for none. */
  optionalPath: 'optional-path',
  /** A non-empty string. */
  requiredString: 'required-string',
  /** A boolean, from JSON true/false or the strings "true"/"false". */
  strictBoolean: 'strict-boolean',
  /** A duration in whole seconds, 0 to 10 years (0 where the key says it means "no limit"). */
  seconds: 'duration-s',
  /** Built-in telemetry stream names: a JSON array, or "cpu,memory" from env and flags. */
  telemetryStreams: 'telemetry-streams',
  /** Network interface names: a JSON array, or "eth0,wlan0"; empty for all but lo. */
  interfaceList: 'interface-list',
  /** Per-stream telemetry settings: a JSON object (JSON text from env and flags). */
  telemetryPerStream: 'telemetry-per-stream',
  /** Custom telemetry streams: a JSON array (JSON text from env and flags). */
  telemetryCustom: 'telemetry-custom',
  /** Any string, or empty for none. */
  optionalString: 'optional-string',
  /** Regular expressions: a JSON array of strings (env and flags: the array as JSON text). */
  regexList: 'regex-list',
  /** Environment variable names, `PREFIX*` or `*`: a JSON array, or "LANG,LC_*". */
  envNameList: 'env-name-list',
  /** A group name or numeric gid, or empty for none. */
  optionalGroup: 'optional-group',
  /** Routine name → command line (a JSON object in env and flags). */
  actionMap: 'action-map',
  /** `host:port` patterns with `*` (forward.allow): a JSON array, or "localhost:*,[::1]:22". */
  forwardTargets: 'forward-targets',
  /** Absolute directory paths: a JSON array, or "/a,/b" (files.allowPaths). */
  absolutePathList: 'absolute-path-list',
  /** Trusted ed25519 keys of updates: a JSON array of "ed25519:<base64>", or a comma list. */
  updatePublicKeys: 'update-public-keys',
  /** A duration in whole seconds, 1 s to a day. */
  positiveSeconds: 'positive-seconds',
  /** Failed starts of an updated agent before the guard rolls back, 1 to 100. */
  updateMaxStarts: 'update-max-starts',
} as const;

const MAX_ACTIONS = 64;

/** WebSocket to a hub, or MQTT 5 to a broker (src/roots/agent-root.ts picks the link). */
const SERVER_URL_SCHEMES: ReadonlySet<string> = new Set(['ws:', 'wss:', 'mqtt:', 'mqtts:']);

/** "a, b" → ["a", "b"]; a JSON array's text is parsed; anything else is left for validation. */
function coerceList(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (value.trim().startsWith('[')) return coerceJson(value);
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** The largest JSON value an environment variable or flag may carry. */
const MAX_SETTING_JSON_BYTES = 1 << 20;

/**
 * A JSON value given as a string (environment variable or flag). Text that is not JSON within
 * the byte and nesting bounds stays a string, so validation says "expected array, got string"
 * and nothing deeper than MAX_JSON_DEPTH reaches convict, which merges values recursively.
 */
function coerceJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const decoded = decodeJson(value, { maxBytes: MAX_SETTING_JSON_BYTES });
  return decoded.ok ? decoded.value : value;
}

function validatedFormat(
  name: string,
  validate: Validator<unknown>,
  coerce: (value: unknown) => unknown,
): void {
  convict.addFormat({
    name,
    coerce,
    validate(value: unknown) {
      const r = validate(value, 'value');
      if (!r.ok) throw new Error(r.error);
    },
  });
}

let registered = false;

/** Registers the formats with convict (its format table is process-wide); safe to call twice. */
export function registerFormats(): void {
  if (registered) return;
  registered = true;
  integerFormat(Format.ms, 1, 86_400_000);
  integerFormat(Format.positiveInt, 1, 2 ** 40);
  integerFormat(Format.openRequestLimit, 1, MAX_OPEN_REQUESTS);
  integerFormat(Format.seconds, 0, 10 * 366 * 86_400);
  integerFormat(Format.positiveSeconds, 1, 86_400);
  integerFormat(Format.updateMaxStarts, 1, 100);
  convict.addFormat({
    name: Format.updatePublicKeys,
    coerce: coerceList,
    validate(value: unknown) {
      const expected =
        'must be a list of at most 16 ed25519 public keys, each "ed25519:<base64>" as iottly-agent keygen prints it';
      if (!Array.isArray(value) || value.length > 16) throw new Error(expected);
      for (const key of value)
        if (typeof key !== 'string' || !isPublicKeyText(key))
          throw new Error(
            `${expected}; got ${typeof key === 'string' ? `"${key.slice(0, 24)}…"` : typeof key}`,
          );
    },
  });
  convict.addFormat({
    name: Format.serverUrl,
    validate(value: unknown) {
      if (value === '') return; // unset; `run` requires it separately with a clearer message
      const expected = 'must be a ws://, wss://, mqtt:// or mqtts:// URL';
      let url: URL;
      try {
        url = new URL(String(value));
      } catch {
        throw new Error(expected);
      }
      if (!SERVER_URL_SCHEMES.has(url.protocol))
        throw new Error(`${expected} (got ${url.protocol}//)`);
    },
  });
  convict.addFormat({
    name: Format.optionalPath,
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be a file path (string)');
    },
  });
  convict.addFormat({
    name: Format.requiredString,
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be a string');
    },
  });
  validatedFormat(Format.telemetryStreams, builtinStreamList, coerceList);
  validatedFormat(Format.interfaceList, interfaceList, coerceList);
  validatedFormat(Format.telemetryPerStream, perStreamSettings, coerceJson);
  validatedFormat(Format.telemetryCustom, customStreams, coerceJson);
  validatedFormat(Format.envNameList, allowEnvList, coerceList);
  validatedFormat(Format.forwardTargets, forwardAllowList, coerceList);
  convict.addFormat({
    name: Format.strictBoolean,
    coerce: (value: unknown) => (value === 'true' ? true : value === 'false' ? false : value),
    validate(value: unknown) {
      if (typeof value !== 'boolean') throw new Error('must be true or false');
    },
  });
  convict.addFormat({
    name: Format.optionalGroup,
    validate(value: unknown) {
      if (typeof value !== 'string' || !/^(|\d{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,31})$/.test(value))
        throw new Error('must be a group name, a numeric gid, or empty');
    },
  });
  convict.addFormat({
    name: Format.actionMap,
    coerce: coerceJson,
    validate(value: unknown) {
      const expected = `must be a JSON object of at most ${MAX_ACTIONS} "name": "command line" pairs`;
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new Error(expected);
      const entries = Object.entries(value);
      if (entries.length > MAX_ACTIONS) throw new Error(expected);
      for (const [name, line] of entries) {
        if (!APP_NAME_PATTERN.test(name))
          throw new Error(`${expected}; bad name "${name.slice(0, 40)}"`);
        if (typeof line !== 'string' || line.trim() === '' || line.length > 4096)
          throw new Error(`${expected}; "${name}" needs a non-empty command line`);
      }
    },
  });
  convict.addFormat({
    name: Format.absolutePathList,
    coerce: coerceList,
    validate(value: unknown) {
      if (!Array.isArray(value) || value.length > 64)
        throw new Error('must be a JSON array (or a comma list) of at most 64 absolute paths');
      for (const item of value) {
        if (
          typeof item !== 'string' ||
          !item.startsWith('/') ||
          item.includes('\0') ||
          item.length > 4096
        )
          throw new Error(`"${String(item).slice(0, 80)}" is not an absolute path`);
        if (item.split('/').includes('..'))
          throw new Error(`"${item.slice(0, 80)}": a root may not contain ".."`);
      }
    },
  });
  convict.addFormat({
    name: Format.optionalString,
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be a string');
    },
  });
  convict.addFormat({
    name: Format.regexList,
    coerce: coerceJson,
    validate(value: unknown) {
      if (!Array.isArray(value)) throw new Error('must be a JSON array of regular expressions');
      for (const item of value) {
        if (typeof item !== 'string') throw new Error('must be a JSON array of strings');
        try {
          new RegExp(item);
        } catch (err) {
          throw new Error(`"${item}" is not a regular expression: ${(err as Error).message}`);
        }
      }
    },
  });
}
