/**
 * `npm run build:binaries [target …]`: one self-contained executable per architecture in dist/
 * (`iottly-agent-linux-x64`, `-linux-arm64`, `-linux-armv7l`), each with a `.xz`, plus
 * SHA256SUMS over all of them and binaries.json with the sizes. Needs qemu-user, the cross C
 * libraries, binutils-multiarch and xz-utils (README "Building the binaries").
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { baseBinary, defaultCacheDir } from './base-binary.js';
import { bundleAgent } from './bundle.js';
import { sha256File } from './file-hash.js';
import { runCommand } from './run-command.js';
import { inject, makeBlob, strip } from './sea.js';
import { binaryName, selectTargets, type Target } from './targets.js';

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
}

const ROOT = new URL('../../', import.meta.url).pathname;
const DIST = join(ROOT, 'dist');

async function main(argv: string[]): Promise<void> {
  const useCodeCache = !argv.includes('--no-code-cache');
  const targets = selectTargets(argv.filter((arg) => !arg.startsWith('--')));
  const cacheDir = defaultCacheDir();
  const work = mkdtempSync(join(tmpdir(), 'iottly-sea-'));
  mkdirSync(DIST, { recursive: true });
  try {
    const bundle = join(work, 'iottly-agent.cjs');
    const { bytes: bundleBytes } = await bundleAgent(join(ROOT, 'src', 'cli.ts'), bundle);
    log(`bundle: ${mib(bundleBytes)} (${bundle})`);
    const built: BuiltBinary[] = [];
    for (const target of targets) {
      const started = Date.now();
      const node = await baseBinary(target, cacheDir);
      const blob = makeBlob(target, node, bundle, work, { useCodeCache });
      const path = join(DIST, binaryName(target));
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
      });
      log(
        `${target.name}: node ${target.nodeVersion}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    await writeSums(built);
    writeFileSync(
      join(DIST, 'binaries.json'),
      `${JSON.stringify({ useCodeCache, built }, null, 2)}\n`,
    );
    printTable(built);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** SHA256SUMS in sha256sum(1) format, so `sha256sum -c --ignore-missing SHA256SUMS` checks a download. */
async function writeSums(built: BuiltBinary[]): Promise<void> {
  const lines: string[] = [];
  for (const { path } of built) {
    for (const file of [path, `${path}.xz`])
      lines.push(`${await sha256File(file)}  ${basename(file)}`);
  }
  writeFileSync(join(DIST, 'SHA256SUMS'), `${lines.join('\n')}\n`);
}

function printTable(built: BuiltBinary[]): void {
  log('| binary | node | official node | stripped + blob | .xz |');
  log('| --- | --- | --- | --- | --- |');
  for (const b of built) {
    log(
      `| ${basename(b.path)} | ${b.nodeVersion} | ${mib(b.baseBytes)} | ${mib(b.bytes)} | ${mib(b.xzBytes)} |`,
    );
  }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const log = (line: string): void => void process.stdout.write(`${line}\n`);

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`build:binaries: ${(err as Error).message}\n`);
  process.exit(1);
});
