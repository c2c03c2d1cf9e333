/**
 * `npm run build:deb [target …]`: release/iottly-agent_<version>_<arch>.deb for each binary
 * that `npm run build:binaries` made (SHA256SUMS there is written again to cover them), with
 * dpkg-deb: the binary in /usr/bin, the unit, the config as a conffile (0640, completed by the
 * operator), the strict hardening drop-in as an example, and the maintainer scripts of
 * packaging/deb (user, ownership, enable, start).
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCommand } from '../binaries/run-command.js';
import { binaryName, selectTargets, type Target } from '../binaries/targets.js';
import { RELEASE_DIR, ROOT } from '../release/release-dir.js';
import { writeSums } from '../release/sha256-sums.js';
import { debName, PACKAGE_NAME } from './deb-name.js';
import { AGENT_VERSION } from '../../src/version.js';

const PACKAGING = join(ROOT, 'packaging', 'deb');
const MAINTAINER_SCRIPTS = ['postinst', 'prerm', 'postrm'];

function place(stage: string, path: string, source: string, mode: number): void {
  const to = join(stage, path);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(source, to);
  chmodSync(to, mode);
}

function control(target: Target, installedKiB: number): string {
  const depends = [
    'libc6 (>= 2.28)',
    ...target.debianDepends,
    'passwd',
    'systemd',
    'init-system-helpers',
  ];
  return [
    `Package: ${PACKAGE_NAME}`,
    `Version: ${AGENT_VERSION}`,
    `Architecture: ${target.debianArch}`,
    'Maintainer: Iottly agent maintainers <agent@iottly.invalid>',
    `Installed-Size: ${installedKiB}`,
    `Depends: ${depends.join(', ')}`,
    'Section: net',
    'Priority: optional',
    'Description: Iottly edge agent',
    ' Keeps a device connected to the Iottly IoT platform over one WebSocket: telemetry,',
    ' remote commands and local apps, run as a systemd service with a watchdog. A single',
    ` executable (Node.js ${target.nodeVersion} inside); no Node.js needed on the device.`,
    '',
  ].join('\n');
}

/** Every file of the package: where it goes, where it comes from, its mode. */
function layout(binary: string): { path: string; source: string; mode: number }[] {
  const systemd = join(ROOT, 'systemd');
  return [
    { path: 'usr/bin/iottly-agent', source: binary, mode: 0o755 },
    // The unit runs it before every start; a .deb agent refuses updates, so it finds no trial.
    {
      path: 'usr/lib/iottly-agent/iottly-agent-update-guard',
      source: join(systemd, 'iottly-agent-update-guard'),
      mode: 0o755,
    },
    {
      path: 'lib/systemd/system/iottly-agent.service',
      source: join(systemd, 'iottly-agent.service'),
      mode: 0o644,
    },
    { path: 'etc/iottly-agent/config.json', source: join(PACKAGING, 'config.json'), mode: 0o640 },
    {
      path: 'usr/share/doc/iottly-agent/hardening-strict.conf',
      source: join(systemd, 'hardening-strict.conf'),
      mode: 0o644,
    },
    {
      path: 'usr/share/doc/iottly-agent/copyright',
      source: join(PACKAGING, 'copyright'),
      mode: 0o644,
    },
    ...MAINTAINER_SCRIPTS.map((script) => ({
      path: `DEBIAN/${script}`,
      source: join(PACKAGING, script),
      mode: 0o755,
    })),
  ];
}

function buildOne(target: Target): string {
  const binary = join(RELEASE_DIR, binaryName(target));
  if (!existsSync(binary))
    throw new Error(`${binary} is missing: run npm run build:binaries first`);
  const stage = mkdtempSync(join(tmpdir(), `deb-${target.debianArch}-`));
  chmodSync(stage, 0o755); // the package's ./, which mkdtemp made 0700
  try {
    const files = layout(binary);
    for (const { path, source, mode } of files) place(stage, path, source, mode);
    chmodSync(join(stage, 'etc/iottly-agent'), 0o750);
    writeFileSync(join(stage, 'DEBIAN/conffiles'), '/etc/iottly-agent/config.json\n');
    const installedBytes = files
      .filter(({ path }) => !path.startsWith('DEBIAN/'))
      .reduce((sum, { path }) => sum + statSync(join(stage, path)).size, 0);
    const installedKiB = Math.ceil(installedBytes / 1024);
    writeFileSync(join(stage, 'DEBIAN/control'), control(target, installedKiB));
    const out = join(RELEASE_DIR, debName(target, AGENT_VERSION));
    // Owned by root whoever builds it. xz -3: dpkg-deb compresses on one core, and -6 takes
    // twice as long (54 s against 26 s for x64 here) for 10% less.
    runCommand('dpkg-deb', ['--root-owner-group', '-Zxz', '-z3', '--build', stage, out]);
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  for (const target of selectTargets(argv)) {
    const out = buildOne(target);
    process.stdout.write(`${out} (${(statSync(out).size / 2 ** 20).toFixed(1)} MiB)\n`);
  }
  await writeSums(RELEASE_DIR);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`build:deb: ${(err as Error).message}\n`);
  process.exit(1);
});
