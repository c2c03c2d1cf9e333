import { PinnedFile } from '../pinned-file.js';
import { firstNumber } from '../proc-text.js';
import type { StreamSource } from '../stream-source.js';

/**
 * The first number of a file, times a scale: `load` (/proc/loadavg), `uptime` (/proc/uptime),
 * `temperature` (millidegrees × 0.001) and the custom `{ name, file, scale }` streams (hwmon,
 * battery, a GPIO sensor's sysfs value).
 */
export class NumberFileSource implements StreamSource {
  readonly name: string;
  readonly #file: PinnedFile;
  readonly #scale: number;

  constructor(name: string, path: string, scale = 1) {
    this.name = name;
    this.#file = new PinnedFile(path);
    this.#scale = scale;
  }

  get path(): string {
    return this.#file.path;
  }

  read(): number {
    // Scaling by 0.001 in binary floating point gives 48.312000000000005; round at 1e-9.
    return Math.round(firstNumber(this.#file.read()) * this.#scale * 1e9) / 1e9;
  }

  close(): void {
    this.#file.close();
  }
}
