/**
 * `npm run build:binaries [target …]`: one self-contained executable per architecture in
 * release/ (`iottly-agent-linux-x64`, `-linux-arm64`, `-linux-armv7l`), each with a `.xz`, the
 * console inside where its Node can carry assets, plus binaries.json with the sizes and
 * SHA256SUMS over the folder. Needs qemu-user, the cross C libraries, binutils-multiarch and
 * xz-utils (README "Building the binaries").
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { baseBinary, defaultCacheDir } from './base-binary.js';
import { RELEASE_DIR, ROOT } from '../release/release-dir.js';
import { writeSums } from '../release/sha256-sums.js';
import { bundleAgent } from './bundle.js';
import { consoleAssets } from './console-assets.js';
import { runCommand } from './run-command.js';
import { inject, makeBlob, strip } from './sea.js';
import { binaryName, selectTargets, type Target } from './targets.js';
import { CONSOLE_ASSET_PREFIX } from '../../src/hub/file-source.js';

export interface BuiltBinary {
  target: Target['name'];
  nodeVersion: string;
  path: string;
  /** The official node binary as shipped (with debug symbols). */
  baseBytes: number;
  /** The shipped executable: stripped node plus the blob. */
  bytes: number;
  xzBytes: number;
  blobBytes: number;
  /** The console's files inside the blob (0 where the target's Node carries no assets). */
  consoleBytes: number;
}

async function main(argv: string[]): Promise<void> {
  const useCodeCache = !argv.includes('--no-code-cache');
  const targets = selectTargets(argv.filter((arg) => !arg.startsWith('--')));
  const cacheDir = defaultCacheDir();
  const work = mkdtempSync(join(tmpdir(), 'iottly-sea-'));
  mkdirSync(RELEASE_DIR, { recursive: true });
  try {
    const bundle = join(work, 'iottly-agent.cjs');
    const { bytes: bundleBytes } = await bundleAgent(join(ROOT, 'src', 'cli.ts'), bundle);
    log(`bundle: ${mib(bundleBytes)} (${bundle})`);
    // The console exactly as npm run build makes it into dist/console/ (built afresh, so a binary
    // never carries a stale one). Built elsewhere, its source map would name the sources by a
    // path from that temporary folder.
    runCommand(process.execPath, [join(ROOT, 'scripts', 'build-console.mjs')]);
    const assets = consoleAssets(join(ROOT, 'dist', 'console'), work);
    const consoleBytes = Object.entries(assets)
      .filter(([key]) => key.startsWith(CONSOLE_ASSET_PREFIX))
      .reduce((sum, [, file]) => sum + statSync(file).size, 0);
    log(`console: ${mib(consoleBytes)} in ${Object.keys(assets).length - 1} files`);
    const built: BuiltBinary[] = [];
    for (const target of targets) {
      const started = Date.now();
      const node = await baseBinary(target, cacheDir);
      const blob = makeBlob(target, node, bundle, work, {
        useCodeCache,
        ...(target.seaAssets ? { assets } : {}),
      });
      const path = join(RELEASE_DIR, binaryName(target));
      strip(node, path);
      inject(path, blob);
      runCommand('xz', ['-6', '-T0', '-k', '-f', path]);
      built.push({
        target: target.name,
        nodeVersion: target.nodeVersion,
        path,
        baseBytes: statSync(node).size,
        bytes: statSync(path).size,
        xzBytes: statSync(`${path}.xz`).size,
        blobBytes: statSync(blob).size,
        consoleBytes: target.seaAssets ? consoleBytes : 0,
      });
      log(
        `${target.name}: node ${target.nodeVersion}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    writeFileSync(
      join(RELEASE_DIR, 'binaries.json'),
      `${JSON.stringify({ useCodeCache, built }, null, 2)}\n`,
    );
    await writeSums(RELEASE_DIR);
    printTable(built);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function printTable(built: BuiltBinary[]): void {
  log('| binary | node | official node | stripped + blob | console | .xz |');
  log('| --- | --- | --- | --- | --- | --- |');
  for (const b of built) {
    log(
      `| ${basename(b.path)} | ${b.nodeVersion} | ${mib(b.baseBytes)} | ${mib(b.bytes)} | ${mib(b.consoleBytes)} | ${mib(b.xzBytes)} |`,
    );
  }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const log = (line: string): void => void process.stdout.write(`${line}\n`);

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`build:binaries: ${(err as Error).message}\n`);
  process.exit(1);
});
