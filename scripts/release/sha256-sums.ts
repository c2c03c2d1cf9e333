import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from '../binaries/file-hash.js';

/**
 * SHA256SUMS of a release folder, in sha256sum(1) format (`sha256sum -c SHA256SUMS` checks a
 * download; install.sh checks its binary by it). It covers every file in the folder but itself,
 * and is written again by each build step that adds files (binaries, then .debs).
 */
export const SUMS_FILE = 'SHA256SUMS';

/** The files SHA256SUMS must cover: every regular file in `dir` but SHA256SUMS, sorted. */
export function artifactNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name !== SUMS_FILE && statSync(join(dir, name)).isFile())
    .sort();
}

export async function writeSums(dir: string): Promise<void> {
  const lines: string[] = [];
  for (const name of artifactNames(dir))
    lines.push(`${await sha256File(join(dir, name))}  ${name}`);
  writeFileSync(join(dir, SUMS_FILE), `${lines.join('\n')}\n`);
}

/** Name → sha256 from a SHA256SUMS text; a line that is not `<64 hex>  <name>` is an error. */
export function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const [index, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!match)
      throw new Error(`${SUMS_FILE} line ${index + 1} is not "<sha256>  <name>": ${line}`);
    sums.set(match[2] as string, match[1] as string);
  }
  return sums;
}
