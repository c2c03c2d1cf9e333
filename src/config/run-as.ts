import { readFileSync } from 'node:fs';
import type { RunAs } from '../process/run-as.js';
import { ConfigError } from './load.js';

/** A bad user or group is a configuration error: exit 78 at start-up, naming the key. */
function runAsError(message: string): ConfigError {
  return new ConfigError([message]);
}

export interface RunAsSources {
  /** Reads /etc/passwd and /etc/group (a test passes its own). */
  readFile?: (path: string) => string;
  etcRoot?: string;
  /** The agent's uid; switching users needs root. */
  currentUid: number;
}

/**
 * `commands.user` / `commands.group` resolved to numeric ids from the passwd and group files
 * (names or numbers), once at start-up, so a typo fails loudly then (exit 78), not per command.
 */
export function resolveRunAs(user: string, group: string, sources: RunAsSources): RunAs | null {
  if (user === '' && group === '') return null;
  if (sources.currentUid !== 0) {
    throw runAsError(
      'commands.user/commands.group need the agent to run as root (it switches user per command)',
    );
  }
  const readFile = sources.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const etc = sources.etcRoot ?? '/etc';
  const passwd = parseColonFile(readFile(`${etc}/passwd`));
  const groups = parseColonFile(readFile(`${etc}/group`));
  let runAs: RunAs = { uid: sources.currentUid, gid: 0 };
  if (user !== '') {
    const entry = passwd.find((f) => f[0] === user) ?? passwd.find((f) => f[2] === user);
    if (entry) {
      runAs = {
        uid: Number(entry[2]),
        gid: Number(entry[3]),
        name: entry[0] as string,
        home: entry[5] as string,
      };
      if (entry[6] !== undefined && entry[6] !== '') runAs.shell = entry[6];
    } else if (/^\d+$/.test(user)) {
      runAs = { uid: Number(user), gid: Number(user) };
    } else {
      throw runAsError(`commands.user: no user "${user}" in ${etc}/passwd`);
    }
  }
  if (group !== '') {
    const entry = groups.find((f) => f[0] === group) ?? groups.find((f) => f[2] === group);
    if (entry) runAs.gid = Number(entry[2]);
    else if (/^\d+$/.test(group)) runAs.gid = Number(group);
    else throw runAsError(`commands.group: no group "${group}" in ${etc}/group`);
  }
  return runAs;
}

function parseColonFile(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}
