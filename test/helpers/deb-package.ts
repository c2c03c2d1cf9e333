import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The .debs that `npm run build:deb` leaves in dist/, and dpkg run as a test needs it. */
export const DIST = new URL('../../dist/', import.meta.url).pathname;

export function debPath(debianArch: string): string {
  return join(DIST, `iottly-agent_0.1.0_${debianArch}.deb`);
}

export function run(
  command: string,
  args: string[],
): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
