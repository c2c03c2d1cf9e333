import { join } from 'node:path';
import { PinnedFile } from '../pinned-file.js';
import { meminfoField } from '../proc-text.js';
import { round2, type StreamSource } from '../stream-source.js';

/**
 * `memory`: used % = (MemTotal − MemAvailable) / MemTotal. Kernels before 3.14 have no
 * MemAvailable; there MemFree + Buffers + Cached is the usual stand-in.
 */
export class MemorySource implements StreamSource {
  readonly name = 'memory';
  readonly #meminfo: PinnedFile;

  constructor(procRoot: string) {
    this.#meminfo = new PinnedFile(join(procRoot, 'meminfo'));
  }

  read(): number {
    const text = this.#meminfo.read();
    const total = meminfoField(text, 'MemTotal');
    if (!total) throw new Error('no MemTotal in meminfo');
    const available =
      meminfoField(text, 'MemAvailable') ??
      (meminfoField(text, 'MemFree') ?? 0) +
        (meminfoField(text, 'Buffers') ?? 0) +
        (meminfoField(text, 'Cached') ?? 0);
    return round2(((total - Math.min(available, total)) / total) * 100);
  }

  close(): void {
    this.#meminfo.close();
  }
}
