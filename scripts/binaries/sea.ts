import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { invocation } from './emulation.js';
import { runCommand } from './run-command.js';
import type { Target } from './targets.js';

/**
 * A Node single executable application: the bundle is turned into a preparation blob by the
 * very Node binary it goes into (run under qemu when foreign: a blob from another Node version
 * aborts at start), the binary is stripped of its debug symbols, and the blob is injected with
 * postject under the fuse that Node looks for.
 */
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
export const SEA_RESOURCE = 'NODE_SEA_BLOB';

export interface SeaOptions {
  /** V8 code cache for the bundle inside the blob (see README: it shortens start-up). */
  useCodeCache: boolean;
  /** Asset key → file, carried in the blob and read at run time with `node:sea`'s getAsset. */
  assets?: Record<string, string>;
}

export function makeBlob(
  target: Target,
  node: string,
  bundle: string,
  workDir: string,
  options: SeaOptions,
): string {
  const blob = join(workDir, `${target.name}.blob`);
  const config = join(workDir, `${target.name}.sea-config.json`);
  writeFileSync(
    config,
    JSON.stringify({
      main: bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: options.useCodeCache,
      ...(options.assets ? { assets: options.assets } : {}),
    }),
  );
  const { command, args } = invocation(target, node, ['--experimental-sea-config', config]);
  runCommand(command, args);
  return blob;
}

/** strip(1) from binutils-multiarch knows every target; its notes about Node's many ELF notes are noise. */
export function strip(input: string, output: string): void {
  copyFileSync(input, output);
  runCommand('strip', ['--strip-all', output]);
}

/** postject runs as its own process: its ELF library prints a warning per Node ELF note, kept out of the build log unless it fails. */
export function inject(executable: string, blob: string): void {
  const cli = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  runCommand(process.execPath, [cli, executable, SEA_RESOURCE, blob, '--sentinel-fuse', SEA_FUSE]);
  chmodSync(executable, 0o755);
}
