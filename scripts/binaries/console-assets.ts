import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONSOLE_ASSET_PREFIX, CONSOLE_MANIFEST_ASSET } from '../../src/hub/file-source.js';
import { BUNDLE_FILE, INDEX_FILE } from '../../src/hub/static-files.js';

/**
 * The built console as SEA assets: `console/<name>` for each file, and the list of names as one
 * more asset (not every Node that reads assets can list them: `getAssetKeys` is newer than
 * `getAsset`). The hub reads them with getAsset (src/hub/file-source.ts), so `iottly-agent hub`
 * from a binary serves the same page as from the npm package, less the source maps: they are
 * four fifths of the console's bytes, and a device carries the binary, not a debugger.
 */
export function consoleAssets(consoleDir: string, workDir: string): Record<string, string> {
  for (const needed of [INDEX_FILE, BUNDLE_FILE]) {
    if (!existsSync(join(consoleDir, needed)))
      throw new Error(`${join(consoleDir, needed)} is missing: the console did not build`);
  }
  const names = readdirSync(consoleDir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.map'))
    .map((entry) => entry.name)
    .sort();
  const manifest = join(workDir, CONSOLE_MANIFEST_ASSET);
  writeFileSync(manifest, JSON.stringify(names));
  return {
    [CONSOLE_MANIFEST_ASSET]: manifest,
    ...Object.fromEntries(
      names.map((name) => [`${CONSOLE_ASSET_PREFIX}${name}`, join(consoleDir, name)]),
    ),
  };
}
