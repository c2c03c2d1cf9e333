import convict from 'convict';
import { homedir } from 'node:os';
import { defaultSocketPath, defaultStorageDir, type PathEnvironment } from './default-paths.js';
import { registerFormats } from './formats.js';
import { unknownEnvironmentWarnings } from './unknown-env.js';
import {
  DEFAULT_CONFIG_PATH,
  envName,
  flagName,
  leafAt,
  leafKeys,
  schema,
  type SchemaLeaf,
  type SchemaTree,
} from './schema.js';
import { decodeJson } from '../protocol/bounded-json.js';
import { describe } from '../protocol/schema.js';
import { LogCode } from '../log/log-codes.js';

/** A configuration file is a few kilobytes; anything near this is not one. */
const MAX_CONFIG_FILE_BYTES = 1 << 20;

/**
 * Loads the configuration from, lowest to highest: defaults, the JSON file, the environment,
 * flags. Validated once, here; a bad value becomes a ConfigError whose lines each name the key,
 * where the value came from and what was expected.
 */
type Widen<T> = T extends string
  ? string
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T;
type ConfigOf<T> = {
  [K in keyof T]: T[K] extends SchemaLeaf ? Widen<T[K]['default']> : ConfigOf<T[K]>;
};
export type AgentConfig = ConfigOf<typeof schema>;

export class ConfigError extends Error {
  readonly code = LogCode.configInvalid;
  readonly problems: string[];
  /**
   * When only some values were bad: the configuration with those keys at their defaults, so a
   * caller can look for more problems and report them all in one pass.
   */
  readonly partial: LoadedConfig | undefined;

  constructor(problems: string[], partial?: LoadedConfig) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
    this.partial = partial;
  }
}

export interface ConfigSources {
  /** `--config PATH`; undefined means the default path, which may be absent. */
  configPath?: string | undefined;
  env: Record<string, string | undefined>;
  /** Flag values by key (`server.url`), as given on the command line. */
  flags: Record<string, string>;
  readFile: (path: string) => string;
  /** Who runs the agent: root gets the system paths as defaults (default: this process's uid). */
  uid?: number | undefined;
  /** For the per-user default paths (default: the account's home directory). */
  homeDir?: string;
}

export interface LoadedConfig {
  config: AgentConfig;
  /** Where each key's effective value came from. */
  sourceOf: (key: string) => string;
  /** The effective configuration with secrets replaced by "[redacted]". */
  redacted: () => AgentConfig;
  filePath: string | null;
  /** What is suspicious but not wrong (an unknown IOTTLY_* variable, an odd URL path). */
  warnings: string[];
}

export function loadConfig(sources: ConfigSources): LoadedConfig {
  registerFormats();
  const keys = leafKeys();
  const fileValues = readConfigFile(sources);
  const envValues: Record<string, string> = {};
  for (const key of keys) {
    const value = sources.env[envName(key)];
    if (value !== undefined) envValues[key] = value;
  }
  for (const key of Object.keys(sources.flags)) {
    if (!leafAt(key)) throw new ConfigError([`unknown configuration key "${key}" (from a flag)`]);
  }

  const sourceOf = (key: string): string => {
    if (Object.hasOwn(sources.flags, key)) return `flag --${flagName(key)}`;
    if (Object.hasOwn(envValues, key)) return `env ${envName(key)}`;
    if (fileValues.path && hasPath(fileValues.values, key)) return `file ${fileValues.path}`;
    return 'default';
  };

  // convict must not read process.env or argv by itself: we pass every source explicitly.
  const store = convict(schema as unknown as convict.Schema<AgentConfig>, { env: {}, args: [] });
  store.load(fileValues.values);
  store.load(nest(envValues));
  store.load(nest(sources.flags));
  let problems: string[] = [];
  try {
    store.validate({ allowed: 'strict' });
  } catch (err) {
    problems = explain((err as Error).message, sourceOf, fileValues.path);
    // Bad values go back to their defaults, so callers can look for more problems (run-config.ts).
    for (const key of new Set(problems.map(problemKey))) {
      if (leafAt(key)) store.reset(key as convict.Path<AgentConfig>);
    }
  }
  fillDefaultPaths(store, sourceOf, {
    env: sources.env,
    uid: 'uid' in sources ? sources.uid : process.getuid?.(),
    homeDir: sources.homeDir ?? homedir(),
  });
  const config = store.getProperties() as AgentConfig;
  const loaded: LoadedConfig = {
    config,
    sourceOf,
    filePath: fileValues.path,
    redacted: () => redact(config),
    warnings: [...unknownEnvironmentWarnings(sources.env, keys), ...urlWarnings(config)],
  };
  if (problems.length > 0) throw new ConfigError(problems, loaded);
  return loaded;
}

/** The key a problem line starts with (`key = value (from …): …`, `key is required: …`). */
export function problemKey(problem: string): string {
  return /^[\w.]+/.exec(problem)?.[0] ?? '';
}

/** storage.dir and local.socketPath left to their defaults: see default-paths.ts. */
function fillDefaultPaths(
  store: convict.Config<AgentConfig>,
  sourceOf: (key: string) => string,
  where: PathEnvironment,
): void {
  if (sourceOf('storage.dir') === 'default') {
    store.set('storage.dir', defaultStorageDir(where, store.get('device.id')));
  }
  if (store.get('local.socketPath') === '') {
    store.set('local.socketPath', defaultSocketPath(where));
  }
}

/** The hub serves devices at /v1/device; any other path is most likely a typo (but a proxy may differ). */
export const DEVICE_ENDPOINT_PATH = '/v1/device';

/** mqtt:// or mqtts://: the agent talks MQTT 5 to a broker instead of WebSocket to a hub. */
export function isMqttUrl(url: URL): boolean {
  return url.protocol === 'mqtt:' || url.protocol === 'mqtts:';
}

function urlWarnings(config: AgentConfig): string[] {
  if (config.server.url === '') return [];
  const url = new URL(config.server.url);
  if (isMqttUrl(url)) return []; // a broker has no path: topics say where frames go
  if (url.pathname.endsWith(DEVICE_ENDPOINT_PATH)) return [];
  const base = url.pathname.replace(/\/+$/, '');
  const path = base.endsWith(DEVICE_ENDPOINT_PATH) ? base : `${base}${DEVICE_ENDPOINT_PATH}`;
  const suggested = `${url.origin}${path}`;
  return [
    `server.url path is "${url.pathname}" — the hub's device endpoint is ${DEVICE_ENDPOINT_PATH} (e.g. ${suggested})`,
  ];
}

function readConfigFile(sources: ConfigSources): {
  path: string | null;
  values: Record<string, unknown>;
} {
  const explicit = sources.configPath !== undefined;
  const path = sources.configPath ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = sources.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!explicit && code === 'ENOENT') return { path: null, values: {} };
    throw new ConfigError([
      `config file ${path}: cannot read it (${code ?? (err as Error).message})`,
    ]);
  }
  const json = decodeJson(text, { maxBytes: MAX_CONFIG_FILE_BYTES });
  if (!json.ok) throw new ConfigError([`config file ${path}: ${json.message}`]);
  const values = json.value;
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new ConfigError([`config file ${path}: expected a JSON object, got ${describe(values)}`]);
  }
  return { path, values: values as Record<string, unknown> };
}

/** Rewrites convict's messages so each names the key's source and hides secret values. */
function explain(
  message: string,
  sourceOf: (key: string) => string,
  filePath: string | null,
): string[] {
  return message.split('\n').map((line) => {
    const undeclared = /^configuration param '(.+)' not declared in the schema$/.exec(line);
    if (undeclared)
      return `${undeclared[1]}: unknown configuration key (from file ${filePath ?? '?'})`;
    const match = /^([\w.]+): (.*?)(?:: value was (.*))?$/.exec(line);
    if (!match) return line;
    const [, key = '', expected = '', value] = match;
    const shown = value !== undefined && !leafAt(key)?.sensitive ? ` = ${value}` : '';
    return `${key}${shown} (from ${sourceOf(key)}): ${expected}`;
  });
}

function nest(flat: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) {
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = value;
  }
  return out;
}

function hasPath(values: Record<string, unknown>, key: string): boolean {
  let node: unknown = values;
  for (const part of key.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return false;
    node = (node as Record<string, unknown>)[part];
  }
  return true;
}

export const REDACTED = '[redacted]';

function redact(config: AgentConfig, tree: SchemaTree = schema): AgentConfig {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  const walk = (node: Record<string, unknown>, shape: SchemaTree): void => {
    for (const [name, child] of Object.entries(shape)) {
      if ('doc' in child && typeof child.doc === 'string') {
        if ((child as SchemaLeaf).sensitive && node[name] !== '') node[name] = REDACTED;
      } else if (typeof node[name] === 'object' && node[name] !== null) {
        walk(node[name] as Record<string, unknown>, child as SchemaTree);
      }
    }
  };
  walk(copy, tree);
  return copy as unknown as AgentConfig;
}
