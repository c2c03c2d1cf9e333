import { join } from 'node:path';

/**
 * Where `npm run build:binaries` and `npm run build:deb` put what a release ships beside the npm
 * package (the binaries, their `.xz`, the `.deb`s, SHA256SUMS, binaries.json). Not dist/: the
 * npm package carries dist/, and a checkout that had built the binaries packed them along
 * (183 MB).
 */
export const ROOT = new URL('../../', import.meta.url).pathname;
export const RELEASE_DIR = join(ROOT, 'release');
