import { ConfigError, type LoadedConfig } from './load.js';

/**
 * A file holding the device token must not be readable by every user on the device: the
 * token lets anyone impersonate it. The config file counts when the token came from it; the
 * token file always does. Group read is fine (the installer makes the config root:iottly 0640).
 */
export const INSECURE_PERMISSIONS_FLAG = 'allow-insecure-config-permissions';

/** Mode bits of a file (fs.statSync(path).mode); injected so tests need no real files. */
export type ReadMode = (path: string) => number;

const OTHERS_READ = 0o004;

export function checkSecretFilePermissions(loaded: LoadedConfig, readMode: ReadMode): void {
  const problems: string[] = [];
  const secretFiles: { path: string; holds: string }[] = [];
  const tokenInFile = loaded.sourceOf('auth.token').startsWith('file ');
  if (loaded.filePath !== null && tokenInFile && loaded.config.auth.token !== '') {
    secretFiles.push({ path: loaded.filePath, holds: 'config file' });
  }
  if (loaded.config.auth.tokenFile !== '') {
    secretFiles.push({ path: loaded.config.auth.tokenFile, holds: 'auth.tokenFile' });
  }
  for (const { path, holds } of secretFiles) {
    let mode: number;
    try {
      mode = readMode(path);
    } catch {
      continue; // unreadable files are reported where they are read
    }
    if ((mode & OTHERS_READ) === 0) continue;
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    problems.push(
      `${holds} ${path} holds the device token but every user can read it (mode ${octal}): ` +
        `run "chmod o-rwx ${path}" (0640 root:iottly or 0600), or pass --${INSECURE_PERMISSIONS_FLAG}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
