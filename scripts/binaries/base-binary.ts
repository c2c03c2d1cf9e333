import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { sha256File } from './file-hash.js';
import { runCommand } from './run-command.js';
import type { Target } from './targets.js';

/**
 * The official Node.js binary a target is built from, fetched once from the npm registry with
 * `npm pack` into a cache directory and checked against its pinned sha256 every time it is
 * used. Never installed as a dependency: a `node-linux-*` package in node_modules puts a
 * foreign `node` first on the PATH of every npm script.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IOTTLY_NODE_CACHE) return env.IOTTLY_NODE_CACHE;
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'iottly-agent', 'node');
}

export class ChecksumError extends Error {
  readonly code = 'checksum_mismatch';
  constructor(what: string, expected: string, actual: string) {
    super(`${what}: sha256 ${actual}, but ${expected} is pinned in scripts/binaries/targets.ts`);
    this.name = 'ChecksumError';
  }
}

/** Returns the path of the verified `node` for the target, fetching it if it is not cached. */
export async function baseBinary(target: Target, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, `${target.nodePackage}-${target.nodeVersion}`);
  const path = join(dir, 'node');
  if (!existsSync(path)) fetchInto(target, cacheDir, dir);
  let actual = await sha256File(path);
  if (actual !== target.nodeSha256) {
    fetchInto(target, cacheDir, dir); // a damaged cache heals; a wrong pin still fails below
    actual = await sha256File(path);
  }
  if (actual !== target.nodeSha256) {
    throw new ChecksumError(
      `${target.nodePackage}@${target.nodeVersion} bin/node (${path})`,
      target.nodeSha256,
      actual,
    );
  }
  return path;
}

function fetchInto(target: Target, cacheDir: string, dir: string): void {
  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(join(cacheDir, '.fetch-'));
  try {
    const spec = `${target.nodePackage}@${target.nodeVersion}`;
    // npm checks the tarball against the registry's integrity hash; we then check the binary.
    const { stdout } = runCommand('npm', ['pack', spec, '--pack-destination', work, '--json'], {
      cwd: work,
    });
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    if (!packed) throw new Error(`npm pack ${spec} reported no file`);
    runCommand('tar', ['-xzf', join(work, packed.filename), '-C', work, 'package/bin/node']);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    renameSync(join(work, 'package', 'bin', 'node'), join(dir, 'node'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
