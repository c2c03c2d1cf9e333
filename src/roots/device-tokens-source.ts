import { closeSync, openSync, readSync } from 'node:fs';
import { DeviceCredentials, type DeviceCredentialEntry } from '../hub/device-credentials.js';
import {
  DeviceTokensFileError,
  MAX_DEVICE_TOKENS_FILE_BYTES,
  deviceTokenEntries,
} from '../hub/device-tokens-file.js';

/** Reads at most `maxBytes` (one more tells a larger file); a FIFO or /dev/zero cannot run on. */
export type ReadBounded = (path: string, maxBytes: number) => Buffer;

/**
 * The hub's device credentials: the `--device-token` flags plus `--device-tokens FILE`, built
 * into one DeviceCredentials set (digests only). `load()` reads the file each time it is called:
 * at start and on every SIGHUP. Any problem (unreadable, too large, a bad line, an id in both
 * the flags and the file, two devices with one token) is a DeviceTokensFileError naming the file
 * and line, and nothing of the file is taken.
 */
export class DeviceTokensSource {
  readonly #flagTokens: ReadonlyMap<string, string>;
  readonly #path: string | null;
  readonly #read: ReadBounded;

  constructor(options: {
    flagTokens: ReadonlyMap<string, string>;
    path: string | null;
    read?: ReadBounded;
  }) {
    this.#flagTokens = options.flagTokens;
    this.#path = options.path;
    this.#read = options.read ?? readFileAtMost;
  }

  get path(): string | null {
    return this.#path;
  }

  load(): DeviceCredentials {
    const path = this.#path;
    let content: Buffer | null = null;
    if (path !== null) {
      try {
        content = this.#read(path, MAX_DEVICE_TOKENS_FILE_BYTES);
      } catch (err) {
        throw new DeviceTokensFileError(`${path}: cannot read it: ${(err as Error).message}`);
      }
    }
    const flagTokens = this.#flagTokens;
    function* entries(): Generator<DeviceCredentialEntry> {
      for (const [deviceId, token] of flagTokens) {
        yield { deviceId, secret: { kind: 'token', token }, source: '--device-token' };
      }
      if (path !== null && content !== null) yield* deviceTokenEntries(content, path);
    }
    try {
      return new DeviceCredentials(entries(), (entry) =>
        entry.line !== undefined ? `${path}:${entry.line}` : (entry.source ?? '--device-token'),
      );
    } catch (err) {
      if (err instanceof DeviceTokensFileError) throw err;
      throw new DeviceTokensFileError((err as Error).message);
    }
  }
}

/** The file's bytes, refusing one larger than `maxBytes` without reading it all. */
export function readFileAtMost(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
      chunks.push(Buffer.from(chunk.subarray(0, n)));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}
