import convict from 'convict';
import { APP_NAME_PATTERN } from '../protocol/apps.js';

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
  /** A WebSocket URL, ws:// or wss://. */
  wsUrl: 'ws-url',
  /** A path to a file, or empty for none. */
  optionalPath: 'optional-path',
  /** A non-empty string. */
  requiredString: 'required-string',
  /** A boolean, from JSON true/false or the strings "true"/"false". */
  strictBoolean: 'strict-boolean',
  /** A group name or numeric gid, or empty for none. */
  optionalGroup: 'optional-group',
  /** Routine name → command line (a JSON object in env and flags). */
  actionMap: 'action-map',
} as const;

const MAX_ACTIONS = 64;

let registered = false;

/** Registers the formats with convict (its format table is process-wide); safe to call twice. */
export function registerFormats(): void {
  if (registered) return;
  registered = true;
  integerFormat(Format.ms, 1, 86_400_000);
  integerFormat(Format.positiveInt, 1, 2 ** 40);
  convict.addFormat({
    name: Format.wsUrl,
    validate(value: unknown) {
      if (value === '') return; // unset; `run` requires it separately with a clearer message
      let url: URL;
      try {
        url = new URL(String(value));
      } catch {
        throw new Error('must be a ws:// or wss:// URL');
      }
      if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
        throw new Error('must be a ws:// or wss:// URL');
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
    coerce: (value: unknown) => {
      if (typeof value !== 'string') return value;
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
      }
    },
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
}
