import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { invocation } from '../binaries/emulation.js';
import { sha256File } from '../binaries/file-hash.js';
import { runCommand } from '../binaries/run-command.js';
import { binaryName, type Target } from '../binaries/targets.js';
import { debName } from '../deb/deb-name.js';
import { artifactNames, parseSums, SUMS_FILE } from './sha256-sums.js';

/**
 * What `npm run release:check` checks before a release, each a problem in words that name what
 * disagrees with what: the version of package.json is the one `iottly-agent version` prints,
 * each binary prints, and each .deb's control file holds; SHA256SUMS lists every file in the
 * release folder with the right hash and nothing else; CHANGELOG.md has a section for the
 * version. The ways to ask a program or a package for its version are injected (with the real
 * ones as defaults), so a test can run the checks on a fixture folder.
 */
export interface ReleaseCheckOptions {
  /** The checkout: package.json and CHANGELOG.md. */
  root: string;
  /** What build:binaries and build:deb made (release/). */
  releaseDir: string;
  targets: readonly Target[];
  /** `iottly-agent version` of the npm package's CLI (default: node <root>/dist/cli.js). */
  cliVersion?: () => string;
  /** `version` of a target's binary (default: run natively, or under qemu-user when foreign). */
  binaryVersion?: (target: Target, path: string) => string;
  /** The `Version:` field of a .deb's control file (default: dpkg-deb -f). */
  debVersion?: (path: string) => string;
}

function runBinaryVersion(target: Target, path: string): string {
  const { command, args } = invocation(target, path, ['version']);
  return runCommand(command, args).stdout;
}

function dpkgDebVersion(path: string): string {
  return runCommand('dpkg-deb', ['-f', path, 'Version']).stdout;
}

export async function releaseProblems(options: ReleaseCheckOptions): Promise<string[]> {
  const { root, releaseDir } = options;
  const cliVersion =
    options.cliVersion ??
    (() => runCommand(process.execPath, [join(root, 'dist', 'cli.js'), 'version']).stdout);
  const binaryVersion = options.binaryVersion ?? runBinaryVersion;
  const debVersion = options.debVersion ?? dpkgDebVersion;
  const version = packageVersion(root);
  const problems: string[] = [];
  const agree = (what: string, found: () => string): void => {
    let actual: string;
    try {
      actual = found().trim();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    if (actual !== version)
      problems.push(`${what} says "${actual}", package.json says "${version}"`);
  };

  agree('iottly-agent version (dist/cli.js)', cliVersion);
  for (const target of options.targets) {
    const binary = join(releaseDir, binaryName(target));
    if (!existsSync(binary)) problems.push(`${binary} is missing (npm run build:binaries)`);
    else agree(`${binaryName(target)} version`, () => binaryVersion(target, binary));
    const deb = join(releaseDir, debName(target, version));
    if (!existsSync(deb)) problems.push(`${deb} is missing (npm run build:deb)`);
    else agree(`${debName(target, version)} control Version`, () => debVersion(deb));
  }
  problems.push(...(await sumsProblems(releaseDir)));
  problems.push(...changelogProblems(root, version));
  return problems;
}

function packageVersion(root: string): string {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    version?: unknown;
  };
  if (typeof version !== 'string') throw new Error(`${join(root, 'package.json')} has no version`);
  return version;
}

async function sumsProblems(releaseDir: string): Promise<string[]> {
  const sumsPath = join(releaseDir, SUMS_FILE);
  if (!existsSync(sumsPath)) return [`${sumsPath} is missing`];
  let sums: Map<string, string>;
  try {
    sums = parseSums(readFileSync(sumsPath, 'utf8'));
  } catch (err) {
    return [(err as Error).message];
  }
  const problems: string[] = [];
  const artifacts = artifactNames(releaseDir);
  for (const name of artifacts) {
    const listed = sums.get(name);
    if (listed === undefined) problems.push(`${SUMS_FILE} does not list ${name}`);
    else if (listed !== (await sha256File(join(releaseDir, name))))
      problems.push(`${name} does not match its ${SUMS_FILE} line (sha256 ${listed})`);
  }
  for (const name of sums.keys()) {
    if (!artifacts.includes(name)) problems.push(`${SUMS_FILE} lists ${name}, which is not there`);
  }
  return problems;
}

/** A `## <version>` heading (anything may follow it: a date, "(unreleased)"). */
function changelogProblems(root: string, version: string): string[] {
  const path = join(root, 'CHANGELOG.md');
  if (!existsSync(path)) return [`${path} is missing`];
  const heading = new RegExp(`^## \\[?${version.replace(/\./g, '\\.')}\\]?(?:\\s|$)`, 'm');
  return heading.test(readFileSync(path, 'utf8'))
    ? []
    : [`CHANGELOG.md has no "## ${version}" section for the version in package.json`];
}
