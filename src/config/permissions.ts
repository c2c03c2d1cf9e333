import { dirname } from 'node:path';
import { ConfigError, type LoadedConfig } from './load.js';

/**
 * The files the agent's identity comes from must not be open to every user on the device.
 * A file holding the device token must not be readable by others: the token lets anyone
 * impersonate the device (the config file counts when the token came from it; the token file
 * always does). The config file and the token file must not be writable by others, nor sit in
 * a folder others may write without the sticky bit (they could replace the file): anyone could
 * point the agent at their own hub, or swap its token. Group read is fine (the installer makes
 * the config root:iottly 0640); group write is left to whoever chose the group.
 */
export const INSECURE_PERMISSIONS_FLAG = 'allow-insecure-config-permissions';

/** Mode bits of a file (fs.statSync(path).mode); injected so tests need no real files. */
export type ReadMode = (path: string) => number;

const OTHERS_READ = 0o004;
const OTHERS_WRITE = 0o002;
const STICKY = 0o1000;

interface CheckedFile {
  path: string;
  /** How the message names it. */
  name: string;
  holdsToken: boolean;
  /** What anyone who can change it could do. */
  harm: string;
}

export function checkConfigFilePermissions(loaded: LoadedConfig, readMode: ReadMode): void {
  const files: CheckedFile[] = [];
  if (loaded.filePath !== null) {
    files.push({
      path: loaded.filePath,
      name: 'config file',
      holdsToken:
        loaded.sourceOf('auth.token').startsWith('file ') && loaded.config.auth.token !== '',
      harm: 'point the agent at their own hub',
    });
  }
  if (loaded.config.auth.tokenFile !== '') {
    files.push({
      path: loaded.config.auth.tokenFile,
      name: 'auth.tokenFile',
      holdsToken: true,
      harm: 'replace the device token',
    });
  }
  const problems = files.flatMap((file) => problemsOf(file, readMode));
  if (problems.length > 0) throw new ConfigError(problems);
}

function problemsOf(file: CheckedFile, readMode: ReadMode): string[] {
  const { path, name } = file;
  const mode = modeOf(path, readMode);
  if (mode === null) return []; // unreadable files are reported where they are read
  const problems: string[] = [];
  const readable = file.holdsToken && (mode & OTHERS_READ) !== 0;
  const writable = (mode & OTHERS_WRITE) !== 0;
  const fix = `run "chmod o-rwx ${path}" (0640 root:iottly or 0600), or pass --${INSECURE_PERMISSIONS_FLAG}`;
  if (readable && writable) {
    problems.push(
      `${name} ${path} holds the device token and every user can read and change it ` +
        `(mode ${octal(mode)}): ${fix}`,
    );
  } else if (readable) {
    problems.push(
      `${name} ${path} holds the device token but every user can read it (mode ${octal(mode)}): ${fix}`,
    );
  } else if (writable) {
    problems.push(
      `${name} ${path} can be changed by every user (mode ${octal(mode)}), so anyone could ${file.harm}: ${fix}`,
    );
  }
  const folder = dirname(path);
  const folderMode = modeOf(folder, readMode);
  if (folderMode !== null && (folderMode & OTHERS_WRITE) !== 0 && (folderMode & STICKY) === 0) {
    problems.push(
      `the folder ${folder} of ${name} ${path} can be changed by every user ` +
        `(mode ${octal(folderMode)}), so anyone could replace the file and ${file.harm}: ` +
        `run "chmod o-w ${folder}", or pass --${INSECURE_PERMISSIONS_FLAG}`,
    );
  }
  return problems;
}

function modeOf(path: string, readMode: ReadMode): number | null {
  try {
    return readMode(path);
  } catch {
    return null;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
