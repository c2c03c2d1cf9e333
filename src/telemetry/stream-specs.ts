import { streamCovers, streamName } from '../protocol/fields.js';
import { BUILTIN_STREAMS } from '../protocol/stream-names.js';
import {
  boolean,
  isPlainObject,
  number,
  object,
  optional,
  record,
  string,
  array,
  type Infer,
  type Result,
  type Validator,
} from '../protocol/schema.js';

/**
 * The shapes of the telemetry configuration that are more than one value: custom streams and
 * per-stream settings, validated with the same toolkit as network messages, so a bad entry is
 * named by its path (`telemetry.custom[1].timeoutMs: expected integer in [1, 600000]`).
 */

/**
 * The known streams each name covers (`network` → `network.rx`, `network.tx`); a name that
 * covers none stays as it is, so the caller can report it. Duplicates go.
 */
export function expandStreamNames(names: readonly string[], known: Iterable<string>): string[] {
  const all = [...known];
  return [
    ...new Set(
      names.flatMap((name) => {
        const members = all.filter((stream) => streamCovers(name, stream));
        return members.length > 0 ? members : [name];
      }),
    ),
  ];
}

/** True when `name` is, or covers, a built-in stream. */
function namesBuiltin(name: string): boolean {
  return BUILTIN_STREAMS.some((stream) => streamCovers(name, stream));
}

const MAX_INTERVAL_MS = 86_400_000;

export const streamSettings = object({
  intervalMs: optional(number({ integer: true, min: 1, max: MAX_INTERVAL_MS })),
  /** Send only when the value moved by more than this (in the stream's unit). */
  deadband: optional(number({ min: 0 })),
  /** …but at least every this many samples (default DEFAULT_MAX_SILENT_INTERVALS). */
  maxSilentIntervals: optional(number({ integer: true, min: 1, max: 1_000_000 })),
});
export type StreamSettings = Infer<typeof streamSettings>;

export const DEFAULT_MAX_SILENT_INTERVALS = 6;

export const perStreamSettings: Validator<Record<string, StreamSettings>> = (value, path) => {
  const r = record(streamSettings, { maxKeys: 256 })(value, path);
  if (!r.ok) return r;
  for (const key of Object.keys(r.value)) {
    const name = streamName()(key, `${path} key`);
    if (!name.ok) return name;
  }
  return r;
};

const fileStream = object({
  name: streamName(),
  file: string({ minLength: 1, maxLength: 4096 }),
  scale: optional(number()),
  enabled: optional(boolean()),
});
const commandStream = object({
  name: streamName(),
  command: string({ minLength: 1, maxLength: 4096 }),
  timeoutMs: number({ integer: true, min: 1, max: 600_000 }),
  enabled: optional(boolean()),
});
export type FileStreamSpec = Infer<typeof fileStream>;
export type CommandStreamSpec = Infer<typeof commandStream>;
export type CustomStreamSpec = FileStreamSpec | CommandStreamSpec;

export function isCommandSpec(spec: CustomStreamSpec): spec is CommandStreamSpec {
  return 'command' in spec;
}

/** `{ name, file, scale? }` or `{ name, command, timeoutMs }`, names unique and not built-in. */
export const customStreams: Validator<CustomStreamSpec[]> = (value, path) => {
  const r = array<CustomStreamSpec>(customStream, { maxItems: 64 })(value, path);
  if (!r.ok) return r;
  const seen = new Set<string>();
  for (const [i, spec] of r.value.entries()) {
    if (namesBuiltin(spec.name) || seen.has(spec.name)) {
      return {
        ok: false,
        error: `${path}[${i}].name: "${spec.name}" is already the name of another stream`,
      };
    }
    seen.add(spec.name);
  }
  return r;
};

function customStream(value: unknown, path: string): Result<CustomStreamSpec> {
  if (isPlainObject(value) && 'file' in value && 'command' in value) {
    return { ok: false, error: `${path}: expected either "file" or "command", not both` };
  }
  if (isPlainObject(value) && 'command' in value) return commandStream(value, path);
  if (isPlainObject(value) && 'file' in value) return fileStream(value, path);
  return {
    ok: false,
    error: `${path}: expected { name, file, scale? } or { name, command, timeoutMs }`,
  };
}

/** Built-in stream names (and families) for `telemetry.streams`. */
export const builtinStreamList: Validator<string[]> = (value, path) => {
  const r = array(string())(value, path);
  if (!r.ok) return r;
  for (const [i, name] of r.value.entries()) {
    if (!namesBuiltin(name)) {
      const known = [...BUILTIN_STREAMS, 'network'].join(', ');
      return { ok: false, error: `${path}[${i}]: unknown stream "${name}" (built-in: ${known})` };
    }
  }
  return r;
};

/** Network interface names as the kernel allows them (1–15 chars, no `/`, `:` or space). */
export const interfaceList: Validator<string[]> = array(string({ pattern: /^[^\s/:]{1,15}$/ }), {
  maxItems: 64,
});
