import { join } from 'node:path';
import { PinnedFile } from '../pinned-file.js';
import { parseCpuTimes, type CpuTimes } from '../proc-text.js';
import { round2, type StreamSource } from '../stream-source.js';

/**
 * `cpu`: busy % of all cores since the previous sample, from /proc/stat counter deltas. Before
 * any baseline the window is "since boot" (the kernel starts the counters at zero).
 */
export class CpuSource implements StreamSource {
  readonly name = 'cpu';
  readonly #stat: PinnedFile;
  #previous: CpuTimes = { busy: 0, total: 0 };
  #last = 0;

  constructor(procRoot: string) {
    this.#stat = new PinnedFile(join(procRoot, 'stat'));
  }

  prime(): void {
    this.#previous = parseCpuTimes(this.#stat.read());
  }

  read(): number {
    const now = parseCpuTimes(this.#stat.read());
    const total = now.total - this.#previous.total;
    const busy = now.busy - this.#previous.busy;
    this.#previous = now;
    // The same jiffy twice, or counters that went backwards (a core was unplugged): keep the
    // last value rather than invent a 0.
    if (total > 0 && busy >= 0) this.#last = round2(Math.min(100, (busy / total) * 100));
    return this.#last;
  }

  close(): void {
    this.#stat.close();
  }
}
