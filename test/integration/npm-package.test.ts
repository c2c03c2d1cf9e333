import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';

/**
 * What `npm pack` puts in the package (`npm run build` first: npm test does it), from
 * `npm pack --dry-run --json`: no build artifact of a release (binary, .xz, .deb, SHA256SUMS),
 * everything a user runs (the CLI and every module it imports, the console, the systemd unit,
 * the installer), and a size under budget. `--ignore-scripts`: prepack would rebuild dist/ under
 * the tests that run it.
 */
const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Budgets for the tarball and for what it unpacks to. Measured at issue 19: 374 KiB packed,
 * 1.2 MiB unpacked (185 files: the compiled agent and hub, the console with its source maps,
 * README). They leave room for a third more code; one binary (26 MiB as .xz, 107 MiB as is) or a
 * stray folder of build output overshoots them by orders of magnitude, the slip they catch.
 */
const PACKED_BUDGET_BYTES = 512 * 1024;
const UNPACKED_BUDGET_BYTES = 2 * 1024 * 1024;

const NEEDED = [
  'package.json',
  'README.md',
  'CHANGELOG.md',
  'dist/cli.js',
  'dist/console/index.html',
  'dist/console/console.js',
  'dist/console/console.css',
  'systemd/iottly-agent.service',
  'systemd/hardening-strict.conf',
  'systemd/iottly-agent-update-guard',
  'scripts/install.sh',
];

/** What a release ships beside the npm package, by name. */
const RELEASE_ARTIFACT =
  /(^|\/)(iottly-agent-linux-[^/]*|[^/]*\.(xz|deb)|SHA256SUMS|binaries\.json)$/;
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

interface PackedFile {
  path: string;
  size: number;
}
interface Packed {
  size: number;
  unpackedSize: number;
  files: PackedFile[];
}

function startsWithElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(ELF_MAGIC);
  } finally {
    closeSync(fd);
  }
}

function builtModules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return builtModules(full);
    return name.endsWith('.js') ? [relative(ROOT, full)] : [];
  });
}

describe('the npm package (npm pack --dry-run)', () => {
  let packed: Packed;
  let paths: string[];
  before(() => {
    const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    [packed] = JSON.parse(result.stdout) as [Packed];
    paths = packed.files.map((file) => file.path);
  });

  it('holds no binary, .xz, .deb or checksum file of a release, and no ELF file at all', () => {
    assert.deepEqual(
      paths.filter((path) => RELEASE_ARTIFACT.test(path)),
      [],
    );
    assert.deepEqual(
      paths.filter((path) => startsWithElf(join(ROOT, path))),
      [],
    );
  });

  it('holds what a user runs: the CLI and every module built beside it, the console, the unit', () => {
    for (const path of NEEDED) assert.ok(paths.includes(path), `${path} is not in the package`);
    const missing = builtModules(join(ROOT, 'dist')).filter((path) => !paths.includes(path));
    assert.deepEqual(missing, [], 'every module npm run build made is packed');
  });

  it('needs no script at install: nothing to build, nothing to allow', () => {
    const { scripts = {} } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    const atInstall = ['preinstall', 'install', 'postinstall', 'prepare'].filter(
      (name) => name in scripts,
    );
    assert.deepEqual(atInstall, []);
  });

  it(`stays under its budget (${PACKED_BUDGET_BYTES} bytes packed, ${UNPACKED_BUDGET_BYTES} unpacked)`, () => {
    assert.ok(
      packed.size <= PACKED_BUDGET_BYTES,
      `packed ${packed.size} bytes > ${PACKED_BUDGET_BYTES}; largest: ${largest(packed.files)}`,
    );
    assert.ok(
      packed.unpackedSize <= UNPACKED_BUDGET_BYTES,
      `unpacked ${packed.unpackedSize} bytes > ${UNPACKED_BUDGET_BYTES}; largest: ${largest(packed.files)}`,
    );
  });
});

function largest(files: PackedFile[]): string {
  return [...files]
    .sort((a, b) => b.size - a.size)
    .slice(0, 5)
    .map((file) => `${file.path} (${file.size})`)
    .join(', ');
}
