import { statfsSync } from 'node:fs';
import { round2, type StreamSource } from '../stream-source.js';

/** The fields of statfs(2) that `disk` needs (a subset of node's StatsFs, for injection). */
export interface FsBlocks {
  blocks: number;
  bfree: number;
  bavail: number;
}

export type StatFs = (path: string) => FsBlocks;

export const systemStatFs: StatFs = (path) => statfsSync(path);

/**
 * `disk`: used % of the file system holding `path`, as df computes it: used / (used + available
 * to unprivileged users), so the root-reserved blocks count as unavailable.
 */
export class DiskSource implements StreamSource {
  readonly name = 'disk';
  readonly #path: string;
  readonly #statfs: StatFs;

  constructor(path: string, statfs: StatFs = systemStatFs) {
    this.#path = path;
    this.#statfs = statfs;
  }

  read(): number {
    const { blocks, bfree, bavail } = this.#statfs(this.#path);
    const used = blocks - bfree;
    if (blocks <= 0 || used + bavail <= 0) {
      throw new Error(`${this.#path} is on a file system without blocks (${blocks})`);
    }
    return round2((used / (used + bavail)) * 100);
  }

  close(): void {}
}
