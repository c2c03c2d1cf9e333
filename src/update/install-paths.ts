import { basename, dirname, join } from 'node:path';

/**
 * The files an update uses, all in the install directory beside the binary (so every rename is
 * within one file system, hence atomic, and nothing is written anywhere else). The update guard
 * (systemd/iottly-agent-update-guard) derives the same names from the binary's path: keep the
 * two in step.
 */
export interface InstallPaths {
  /** The binary systemd runs. */
  readonly binary: string;
  readonly dir: string;
  /** The binary before the last update: what a rollback renames back. */
  readonly previous: string;
  /** The trial's state (key=value lines), read by the guard before every start. */
  readonly state: string;
}

export function installPaths(binary: string): InstallPaths {
  return {
    binary,
    dir: dirname(binary),
    previous: `${binary}.previous`,
    state: `${binary}.update-state`,
  };
}

/**
 * Where an artifact's bytes arrive: named by its sha256, so a resumed session finds the same
 * content's bytes and never another's.
 */
export function partPath(paths: InstallPaths, sha256: string): string {
  return join(paths.dir, `.${basename(paths.binary)}.${sha256.slice(0, 16)}.part`);
}

/** Part files of other artifacts (an abandoned update): removed when a new one starts. */
export function isPartName(paths: InstallPaths, name: string): boolean {
  const prefix = `.${basename(paths.binary)}.`;
  return name.startsWith(prefix) && name.endsWith('.part');
}
