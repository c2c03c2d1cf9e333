import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

/** Runs a build step to completion; a failure throws with the command and what it printed. */
export function runCommand(
  command: string,
  args: string[],
  options: SpawnSyncOptions = {},
): { stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  if (result.error) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(
      missing
        ? `${command} not found on PATH (see README "Building the binaries" for the packages)`
        : `${command} failed to start: ${result.error.message}`,
    );
  }
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.status ?? result.signal}\n${stderr}${stdout}`.trim(),
    );
  }
  return { stdout, stderr };
}
