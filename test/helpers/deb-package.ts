import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { debName } from '../../scripts/deb/deb-name.js';
import { RELEASE_DIR } from '../../scripts/release/release-dir.js';
import { AGENT_VERSION } from '../../src/version.js';

/** The .debs that `npm run build:deb` leaves in release/, and dpkg run as a test needs it. */
export function debPath(debianArch: string): string {
  return join(RELEASE_DIR, debName({ debianArch }, AGENT_VERSION));
}

export function run(
  command: string,
  args: string[],
): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
