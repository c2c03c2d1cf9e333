/**
 * A very small validator toolkit for incoming JSON.
 *
 * Every message from the network passes through one of these before any handler sees it, so a
 * handler only ever receives values of the declared shape. Errors name the path and say what was
 * expected and what arrived (`payload.streams[1]: expected string, got number`), because the
 * person reading them is usually debugging someone else's client.
 */

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export type Validator<T> = (value: unknown, path: string) => Result<T>;

export type Infer<V> = V extends Validator<infer T> ? T : never;

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = (path: string, expected: string, value: unknown): Result<never> => ({
  ok: false,
  error: `${path}: expected ${expected}, got ${describe(value)}`,
});

/** Names a JSON value's kind for an error message without echoing (possibly secret) content. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return value.length > 40 ? 'string (long)' : `string "${value}"`;
  return typeof value;
}

export interface StringOptions {
  minLength?: number;
  maxLength?: number;
  pattern?: RegExp;
}

export function string(options: StringOptions = {}): Validator<string> {
  const { minLength = 0, maxLength = 1 << 20, pattern } = options;
  return (value, path) => {
    if (typeof value !== 'string') return fail(path, 'string', value);
    if (value.length < minLength) return fail(path, `string of at least ${minLength} chars`, value);
    if (value.length > maxLength) return fail(path, `string of at most ${maxLength} chars`, value);
    if (pattern && !pattern.test(value)) return fail(path, `string matching ${pattern}`, value);
    return ok(value);
  };
}

export interface NumberOptions {
  integer?: boolean;
  min?: number;
  max?: number;
}

export function number(options: NumberOptions = {}): Validator<number> {
  const { integer = false, min = -Infinity, max = Infinity } = options;
  const kind = integer ? 'integer' : 'number';
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return fail(path, kind, value);
    if (integer && !Number.isInteger(value)) return fail(path, kind, value);
    if (value < min || value > max) return fail(path, `${kind} in [${min}, ${max}]`, value);
    return ok(value);
  };
}

export const boolean = (): Validator<boolean> => (value, path) =>
  typeof value === 'boolean' ? ok(value) : fail(path, 'boolean', value);

export function literal<const T extends string>(...choices: T[]): Validator<T> {
  const expected = choices.map((c) => `"${c}"`).join(' | ');
  return (value, path) =>
    typeof value === 'string' && (choices as string[]).includes(value)
      ? ok(value as T)
      : fail(path, expected, value);
}

export function array<T>(item: Validator<T>, options: { maxItems?: number } = {}): Validator<T[]> {
  const { maxItems = 10_000 } = options;
  return (value, path) => {
    if (!Array.isArray(value)) return fail(path, 'array', value);
    if (value.length > maxItems) return fail(path, `array of at most ${maxItems} items`, value);
    const out: T[] = [];
    for (let i = 0; i < value.length; i++) {
      const r = item(value[i], `${path}[${i}]`);
      if (!r.ok) return r;
      out.push(r.value);
    }
    return ok(out);
  };
}

/** A JSON object whose values are all of one kind (e.g. environment variables). */
export function record<T>(
  item: Validator<T>,
  options: { maxKeys?: number } = {},
): Validator<Record<string, T>> {
  const { maxKeys = 1000 } = options;
  return (value, path) => {
    if (!isPlainObject(value)) return fail(path, 'object', value);
    const keys = Object.keys(value);
    if (keys.length > maxKeys) return fail(path, `object of at most ${maxKeys} keys`, value);
    const out: Record<string, T> = {};
    for (const key of keys) {
      const r = item(value[key], `${path}.${key}`);
      if (!r.ok) return r;
      out[key] = r.value;
    }
    return ok(out);
  };
}

/** Any JSON object, passed through as it is (for user payloads the agent does not interpret). */
export const anyObject = (): Validator<Record<string, unknown>> => (value, path) =>
  isPlainObject(value) ? ok(value) : fail(path, 'object', value);

export function nullable<T>(inner: Validator<T>): Validator<T | null> {
  return (value, path) => (value === null ? ok(null) : inner(value, path));
}

const OPTIONAL = Symbol('optional');
type Optional<T> = Validator<T | undefined> & { [OPTIONAL]: true };

export function optional<T>(inner: Validator<T>): Optional<T> {
  const v = ((value: unknown, path: string) =>
    value === undefined ? ok(undefined) : inner(value, path)) as Optional<T>;
  v[OPTIONAL] = true;
  return v;
}

type Shape = Record<string, Validator<unknown>>;
type RequiredKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends Optional<unknown> ? never : K;
}[keyof S];
type OptionalKeys<S extends Shape> = Exclude<keyof S, RequiredKeys<S>>;
export type ObjectOf<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & {
  [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined>;
};

/**
 * An object with known fields. Unknown fields are ignored (and dropped from the result) so that
 * newer peers can add fields without breaking older ones; known fields must have the right type.
 */
export function object<S extends Shape>(shape: S): Validator<ObjectOf<S>> {
  const entries = Object.entries(shape);
  return (value, path) => {
    if (!isPlainObject(value)) return fail(path, 'object', value);
    const out: Record<string, unknown> = {};
    for (const [key, validate] of entries) {
      const r = validate(value[key], `${path}.${key}`);
      if (!r.ok) {
        if (value[key] === undefined) return { ok: false, error: `${path}.${key}: required` };
        return r;
      }
      if (r.value !== undefined) out[key] = r.value;
    }
    return ok(out as ObjectOf<S>);
  };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
