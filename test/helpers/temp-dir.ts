import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { Owner } from './owner.js';

/**
 * A new temporary folder that is removed, with all in it, when its owner ends, so no test
 * leaves one behind (some hold private keys). The owner defaults to node:test's `after`,
 * which, called inside a test, runs when that test ends (at the latest when its file does).
 */
export function tempDir(prefix: string, owner: Owner = { after }): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  owner.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
