import {
  ConfigError,
  problemKey,
  loadConfig,
  type ConfigSources,
  type LoadedConfig,
} from './load.js';
import { resolveRunSecrets, type RunSecrets } from './resolve.js';

/**
 * The configuration of `run` and `check-config`, with every problem reported in one pass: bad
 * values, missing keys, unreadable files, together in one ConfigError (exit 78 once), instead
 * of one fix-and-retry round per problem. A value that was bad is not reported again as missing.
 */
export interface RunConfigSources extends ConfigSources {
  readSecretFile: (path: string) => Buffer;
  /** Told each warning (an unknown IOTTLY_* variable…), before any problem is thrown. */
  warn: (warning: string) => void;
  /** Checks beyond the values (the secret files' permissions); throws a ConfigError. */
  check?: (loaded: LoadedConfig) => void;
}

export function loadRunConfig(sources: RunConfigSources): LoadedConfig & { secrets: RunSecrets } {
  const problems: string[] = [];
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(sources);
  } catch (err) {
    if (!(err instanceof ConfigError) || !err.partial) throw err;
    problems.push(...err.problems);
    loaded = err.partial;
  }
  for (const warning of loaded.warnings) sources.warn(warning);
  const collect = (step: () => void): void => {
    try {
      step();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const reported = new Set(problems.map(problemKey));
      problems.push(...err.problems.filter((problem) => !reported.has(problemKey(problem))));
    }
  };
  if (sources.check) collect(() => sources.check?.(loaded));
  let secrets: RunSecrets = { token: '', tls: {} };
  collect(() => (secrets = resolveRunSecrets(loaded, sources.readSecretFile)));
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...loaded, secrets };
}
