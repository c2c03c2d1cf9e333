/**
 * `npm run release:check`: after `npm run build`, `build:binaries` and `build:deb`, checks that
 * what a release ships agrees (release-checks.ts lists what); prints every problem and exits 1
 * on any. The arm binaries run under qemu-user, as in `npm run test:binaries`.
 */
import { TARGETS } from '../binaries/targets.js';
import { RELEASE_DIR, ROOT } from './release-dir.js';
import { releaseProblems } from './release-checks.js';

async function main(): Promise<void> {
  const problems = await releaseProblems({ root: ROOT, releaseDir: RELEASE_DIR, targets: TARGETS });
  if (problems.length > 0) {
    for (const problem of problems) process.stderr.write(`release:check: ${problem}\n`);
    process.stderr.write(`release:check: ${problems.length} problem(s)\n`);
    process.exit(1);
  }
  process.stdout.write(
    `release:check: package.json, dist/cli.js, ${TARGETS.length} binaries and their .debs say the same version; SHA256SUMS and CHANGELOG.md agree\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`release:check: ${(err as Error).message}\n`);
  process.exit(1);
});
