import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { binaryName, TARGETS, type Target } from '../../scripts/binaries/targets.js';
import { debName } from '../../scripts/deb/deb-name.js';
import { releaseProblems } from '../../scripts/release/release-checks.js';
import { SUMS_FILE, writeSums } from '../../scripts/release/sha256-sums.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * `npm run release:check`'s checks on a fixture checkout and release folder, real files in a temp
 * dir: a dist/cli.js and "binaries" that are scripts printing a version, .debs made by dpkg-deb
 * (read back by the checker's real dpkg-deb), SHA256SUMS by the same writer as the build.
 * Binaries run directly here, not under qemu: the fixtures are shell scripts.
 */
const VERSION = '1.2.3';

interface Fixture {
  root: string;
  release: string;
  problems(): Promise<string[]>;
}

function printsVersion(path: string, version: string): void {
  writeFileSync(path, `#!/bin/sh\n[ "$1" = version ] && echo ${version}\n`);
  chmodSync(path, 0o755);
}

function makeDeb(path: string, target: Target, version: string, work: string): void {
  const stage = join(work, `stage-${target.debianArch}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, 'DEBIAN'), { recursive: true });
  writeFileSync(
    join(stage, 'DEBIAN', 'control'),
    `Package: iottly-agent\nVersion: ${version}\nArchitecture: ${target.debianArch}\nMaintainer: t <t@t.invalid>\nDescription: fixture\n`,
  );
  const built = spawnSync('dpkg-deb', ['--root-owner-group', '-Znone', '--build', stage, path], {
    encoding: 'utf8',
  });
  assert.equal(built.status, 0, built.stderr);
}

async function fixture(owner: Owner): Promise<Fixture> {
  const root = tempDir('release-check-', owner);
  const release = join(root, 'release');
  mkdirSync(join(root, 'dist'), { recursive: true });
  mkdirSync(release);
  writeFileSync(join(root, 'package.json'), JSON.stringify({ version: VERSION }));
  writeFileSync(join(root, 'CHANGELOG.md'), `# Changelog\n\n## ${VERSION} (unreleased)\n\n- x\n`);
  writeFileSync(join(root, 'dist', 'cli.js'), `console.log(${JSON.stringify(VERSION)});\n`);
  for (const target of TARGETS) {
    printsVersion(join(release, binaryName(target)), VERSION);
    makeDeb(join(release, debName(target, VERSION)), target, VERSION, root);
  }
  await writeSums(release);
  return {
    root,
    release,
    problems: () =>
      releaseProblems({
        root,
        releaseDir: release,
        targets: TARGETS,
        binaryVersion: (_target, path) => spawnSync(path, ['version'], { encoding: 'utf8' }).stdout,
      }),
  };
}

describe('release:check', () => {
  it('finds nothing when package.json, the CLI, binaries, .debs, SHA256SUMS and CHANGELOG agree', async (t) => {
    const { problems } = await fixture(t);
    assert.deepEqual(await problems(), []);
  });

  it('names the binary, the .deb and the CLI whose version disagrees, with both versions', async (t) => {
    const { root, release, problems } = await fixture(t);
    const [x64, arm64] = TARGETS as [Target, Target];
    printsVersion(join(release, binaryName(x64)), '1.2.2');
    makeDeb(join(release, debName(arm64, VERSION)), arm64, '1.3.0', root);
    writeFileSync(join(root, 'dist', 'cli.js'), 'console.log("0.9.0");\n');
    await writeSums(release);
    assert.deepEqual((await problems()).sort(), [
      `iottly-agent version (dist/cli.js) says "0.9.0", package.json says "${VERSION}"`,
      `iottly-agent-linux-x64 version says "1.2.2", package.json says "${VERSION}"`,
      `iottly-agent_${VERSION}_arm64.deb control Version says "1.3.0", package.json says "${VERSION}"`,
    ]);
  });

  it('names a missing binary and a missing .deb', async (t) => {
    const { release, problems } = await fixture(t);
    const armv7 = TARGETS.find((target) => target.name === 'linux-armv7l')!;
    rmSync(join(release, binaryName(armv7)));
    rmSync(join(release, debName(armv7, VERSION)));
    await writeSums(release);
    assert.deepEqual(await problems(), [
      `${join(release, binaryName(armv7))} is missing (npm run build:binaries)`,
      `${join(release, debName(armv7, VERSION))} is missing (npm run build:deb)`,
    ]);
  });

  it('SHA256SUMS: a changed file, an unlisted one and a listed one that is gone are each named', async (t) => {
    const { release, problems } = await fixture(t);
    appendFileSync(join(release, binaryName(TARGETS[0]!)), '# changed after the sums\n');
    writeFileSync(join(release, 'notes.txt'), 'added after the sums\n');
    rmSync(join(release, debName(TARGETS[1]!, VERSION)));
    const found = await problems();
    assert.ok(
      found.some((p) => /^iottly-agent-linux-x64 does not match its SHA256SUMS line/.test(p)),
      found.join('\n'),
    );
    assert.ok(found.includes(`${SUMS_FILE} does not list notes.txt`), found.join('\n'));
    assert.ok(
      found.includes(`${SUMS_FILE} lists iottly-agent_${VERSION}_arm64.deb, which is not there`),
      found.join('\n'),
    );
  });

  it('a missing SHA256SUMS, and a CHANGELOG without a section for the version', async (t) => {
    const { root, release, problems } = await fixture(t);
    rmSync(join(release, SUMS_FILE));
    writeFileSync(join(root, 'CHANGELOG.md'), '# Changelog\n\n## 1.2.30\n\n- not this one\n');
    assert.deepEqual(await problems(), [
      `${join(release, SUMS_FILE)} is missing`,
      `CHANGELOG.md has no "## ${VERSION}" section for the version in package.json`,
    ]);
  });
});
