import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where the console's files come from, for StaticFiles: a folder on disk (`dist/console/`, the
 * npm package and a checkout) or the assets a single-executable binary carries (put there by
 * `npm run build:binaries`, read with `node:sea`'s `getAsset`). Both are read only when the hub
 * starts, never when made.
 */
export interface FileSource {
  /** Where the files are, for the message when the console is missing. */
  readonly where: string;
  /** The files' names: a flat set, no folders. */
  list(): string[];
  read(name: string): Buffer;
}

/** The binary's assets: `console/<name>` for each file, and the list of names under this key. */
export const CONSOLE_ASSET_PREFIX = 'console/';
export const CONSOLE_MANIFEST_ASSET = 'console-files.json';

export interface FolderFs {
  readFile: (path: string) => Buffer;
  listDir: (path: string) => string[];
}

export function folderSource(
  dir: string,
  fs: FolderFs = { readFile: readFileSync, listDir: listFiles },
): FileSource {
  return {
    where: dir,
    list: () => fs.listDir(dir),
    read: (name) => fs.readFile(join(dir, name)),
  };
}

/** What this needs of `node:sea` (Node ≥ 20.12; the binaries on Node 24 have it). */
export interface SeaAssets {
  isSea(): boolean;
  getAsset(key: string): ArrayBuffer;
}

/**
 * The console inside a single-executable binary, or null when this process is not one or its
 * binary carries no console (built without it, or on a Node without assets).
 */
export function consoleAssets(sea: SeaAssets | undefined): FileSource | null {
  if (!sea?.isSea()) return null;
  let names: string[];
  try {
    names = parseManifest(Buffer.from(sea.getAsset(CONSOLE_MANIFEST_ASSET)).toString('utf8'));
  } catch {
    return null; // getAsset throws for a key the binary does not carry
  }
  return {
    where: 'this binary',
    list: () => names,
    read: (name) => Buffer.from(sea.getAsset(`${CONSOLE_ASSET_PREFIX}${name}`)),
  };
}

function parseManifest(text: string): string[] {
  const names: unknown = JSON.parse(text);
  if (!Array.isArray(names) || !names.every((name) => typeof name === 'string'))
    throw new Error(`${CONSOLE_MANIFEST_ASSET} is not a list of names`);
  return names as string[];
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((name) => statSync(join(dir, name)).isFile());
}
