import { isAbsolute, join } from 'node:path';

/**
 * Where the spool and the SDK socket go when the configuration names no place. The system paths
 * belong to the service: systemd hands them over as $STATE_DIRECTORY and $RUNTIME_DIRECTORY, and
 * root gets them by name. Anyone else running the agent by hand gets per-user paths (XDG base
 * directories), so a first `run` needs no root and never shares a spool with the service. A
 * per-user spool is also per device: spooled messages belong to the device that wrote them, and
 * must not leave later under another id.
 */
export const SYSTEM_STATE_DIR = '/var/lib/iottly-agent';
export const SYSTEM_SOCKET_PATH = '/run/iottly-agent/sdk.sock';
export const SOCKET_FILE_NAME = 'sdk.sock';
const APP_DIR = 'iottly-agent';

export interface PathEnvironment {
  env: Record<string, string | undefined>;
  /** The agent's uid; undefined (no uids on this platform) counts as not root. */
  uid: number | undefined;
  homeDir: string;
}

export function defaultStorageDir(where: PathEnvironment, deviceId: string): string {
  const state = firstEntry(where.env.STATE_DIRECTORY);
  if (state) return state;
  if (where.uid === 0) return SYSTEM_STATE_DIR;
  return deviceId === '' ? userStateDir(where) : join(userStateDir(where), safeName(deviceId));
}

export function defaultSocketPath(where: PathEnvironment): string {
  const runtime = firstEntry(where.env.RUNTIME_DIRECTORY);
  if (runtime) return join(runtime, SOCKET_FILE_NAME);
  if (where.uid === 0) return SYSTEM_SOCKET_PATH;
  const userRuntime = where.env.XDG_RUNTIME_DIR;
  if (userRuntime && isAbsolute(userRuntime)) return join(userRuntime, APP_DIR, SOCKET_FILE_NAME);
  return join(userStateDir(where), SOCKET_FILE_NAME);
}

/** `$XDG_STATE_HOME/iottly-agent`, else `~/.local/state/iottly-agent` (relative XDG paths are invalid). */
function userStateDir({ env, homeDir }: PathEnvironment): string {
  const base = env.XDG_STATE_HOME;
  return join(base && isAbsolute(base) ? base : join(homeDir, '.local', 'state'), APP_DIR);
}

/** systemd lists several directories with ":"; the first is the unit's own. */
function firstEntry(value: string | undefined): string | undefined {
  const first = value?.split(':')[0];
  return first === '' ? undefined : first;
}

/** A device id as one path segment: "." and ".." (valid ids) must not name the parent. */
function safeName(deviceId: string): string {
  return deviceId.replace(/^\./, '%2E').replaceAll('/', '%2F');
}
