import { readFileSync } from 'node:fs';
import type { AgentConfig } from '../config/load.js';
import { resolveRunAs } from '../config/run-as.js';
import type { Account } from '../files/access.js';
import { FilesFeature } from '../files/files-feature.js';

/** The files feature from validated configuration; the passwd and group files come in here. */
export interface FilesDependencies {
  uid: number;
  /** Reads /etc/passwd and /etc/group (a test passes its own). */
  readFile?: (path: string) => string;
}

export function createFilesFeature(config: AgentConfig, deps: FilesDependencies): FilesFeature {
  const readFile = deps.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const { commands } = config;
  // Transfers act for the user commands run as: its permission bits are checked, files are its.
  const runAs = resolveRunAs(commands.user, commands.group, { currentUid: deps.uid, readFile });
  const account: Account | null =
    runAs === null
      ? null
      : {
          uid: runAs.uid,
          gid: runAs.gid,
          groups: runAs.name === undefined ? [] : supplementaryGroups(readFile, runAs.name),
        };
  return new FilesFeature({
    settings: config.files,
    runAs: account,
    agentUid: deps.uid,
    lookupUser: (name) => lookupUser(readFile, name),
  });
}

function colonFile(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

/** The groups of /etc/group that list `user` as a member (the supplementary groups). */
export function supplementaryGroups(readFile: (path: string) => string, user: string): number[] {
  try {
    return colonFile(readFile('/etc/group'))
      .filter((fields) => (fields[3] ?? '').split(',').includes(user))
      .map((fields) => Number(fields[2]))
      .filter(Number.isInteger);
  } catch {
    return [];
  }
}

/** A user name or number to its uid and primary gid from /etc/passwd; null when unknown. */
export function lookupUser(
  readFile: (path: string) => string,
  name: string,
): { uid: number; gid: number } | null {
  let entries: string[][];
  try {
    entries = colonFile(readFile('/etc/passwd'));
  } catch {
    return null;
  }
  const entry = entries.find((fields) => fields[0] === name) ?? entries.find((f) => f[2] === name);
  if (entry) return { uid: Number(entry[2]), gid: Number(entry[3]) };
  return /^\d+$/.test(name) ? { uid: Number(name), gid: Number(name) } : null;
}
