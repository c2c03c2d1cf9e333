import { parseArgs } from 'node:util';
import { INSECURE_PERMISSIONS_FLAG } from '../config/permissions.js';
import { flagName, leafKeys } from '../config/schema.js';
import { UsageError } from './usage-error.js';

/**
 * Flags of `run` and `check-config`: `--config PATH` plus one flag per configuration key
 * (`--server-url`, `--heartbeat-interval-ms`, …), derived from the schema.
 */
export interface AgentArgs {
  configPath: string | undefined;
  flags: Record<string, string>;
  /** `--allow-insecure-config-permissions`: start even if others can read the token. */
  allowInsecureConfigPermissions: boolean;
}

export function parseAgentArgs(argv: string[]): AgentArgs {
  const keyByFlag = new Map(leafKeys().map((key) => [flagName(key), key]));
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    [INSECURE_PERMISSIONS_FLAG]: { type: 'boolean' },
  };
  for (const flag of keyByFlag.keys()) options[flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }) as {
      values: Record<string, string | undefined>;
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const flags: Record<string, string> = {};
  for (const [flag, value] of Object.entries(values)) {
    const key = keyByFlag.get(flag);
    if (key && typeof value === 'string') flags[key] = value;
  }
  const configPath = typeof values.config === 'string' ? values.config : undefined;
  const allowInsecureConfigPermissions = values[INSECURE_PERMISSIONS_FLAG] === true;
  return { configPath, flags, allowInsecureConfigPermissions };
}
