import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodeJson } from '../../protocol/bounded-json.js';
import { ErrorCode } from '../../protocol/error-codes.js';
import { MAX_SIGNATURE_BYTES } from '../../protocol/updates.js';
import {
  ARTIFACT_ARCHES,
  VERSION_PATTERN,
  artifactSignature,
} from '../../protocol/update-artifact.js';
import { verifyArtifactSignature, type TrustedKey } from '../../protocol/update-signature.js';

/**
 * The agent builds the hub can hand to devices, on disk under `--artifacts DIR`:
 *
 *     DIR/<version>/<arch>/agent           the binary
 *     DIR/<version>/<arch>/signature.json  its signature file, as uploaded
 *     DIR/<version>/<arch>/meta.json       { version, arch, size, sha256, uploaded_at }
 *     DIR/.incoming/<random>.part          an upload in progress (removed at start)
 *
 * An upload streams to a part file while it is hashed and counted (never held in memory),
 * bounded by `maxBytes`; it becomes the artifact only when its size and sha256 are the ones its
 * signature file names, by one rename of the directory. Version and arch are checked against
 * patterns without path characters, so no request names a path outside DIR.
 */
export interface ArtifactInfo {
  version: string;
  arch: string;
  size: number;
  sha256: string;
  uploaded_at: string;
}

export interface Artifact extends ArtifactInfo {
  /** The signature file as uploaded (parsed): sent whole to the device. */
  signature: Record<string, unknown>;
  /** The binary's path. */
  path: string;
}

/** Largest artifact by default: the single binary is about 100 MiB. */
export const DEFAULT_MAX_ARTIFACT_BYTES = 256 * 1024 * 1024;

export type PutResult =
  | { ok: true; artifact: ArtifactInfo }
  | {
      ok: false;
      status: 400 | 413;
      code: typeof ErrorCode.invalidArtifact | typeof ErrorCode.payloadTooLarge;
      message: string;
    };

export class ArtifactTooLarge extends Error {
  readonly code = ErrorCode.payloadTooLarge;
}

export class ArtifactStore {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #now: () => Date;
  readonly #artifacts = new Map<string, Artifact>();

  readonly #trustedKeys: readonly TrustedKey[];

  constructor(options: {
    dir: string;
    maxBytes?: number;
    now?: () => Date;
    /** `--update-keys`: uploads signed by no key of these are refused (empty: any signer). */
    trustedKeys?: readonly TrustedKey[];
  }) {
    this.dir = options.dir;
    this.#trustedKeys = options.trustedKeys ?? [];
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_ARTIFACT_BYTES;
    this.#now = options.now ?? (() => new Date());
  }

  /** Reads what DIR holds (at start); leftovers of interrupted uploads are removed. */
  load(): void {
    mkdirSync(this.dir, { recursive: true });
    rmSync(join(this.dir, '.incoming'), { recursive: true, force: true });
    this.#artifacts.clear();
    for (const version of readdirSync(this.dir)) {
      if (!VERSION_PATTERN.test(version)) continue;
      let arches: string[];
      try {
        arches = readdirSync(join(this.dir, version));
      } catch {
        continue;
      }
      for (const arch of arches) {
        if (!isArch(arch)) continue;
        const where = join(this.dir, version, arch);
        try {
          const meta = JSON.parse(readFileSync(join(where, 'meta.json'), 'utf8')) as ArtifactInfo;
          const signature = JSON.parse(
            readFileSync(join(where, 'signature.json'), 'utf8'),
          ) as Record<string, unknown>;
          this.#artifacts.set(key(version, arch), {
            version,
            arch,
            size: meta.size,
            sha256: meta.sha256,
            uploaded_at: meta.uploaded_at,
            signature,
            path: join(where, 'agent'),
          });
        } catch {
          // An incomplete directory (a crash between mkdir and rename cannot make one; a hand
          // edit can): not an artifact.
        }
      }
    }
  }

  list(): ArtifactInfo[] {
    return [...this.#artifacts.values()]
      .map(info)
      .sort((a, b) => a.version.localeCompare(b.version) || a.arch.localeCompare(b.arch));
  }

  get(version: string, arch: string): Artifact | undefined {
    return this.#artifacts.get(key(version, arch));
  }

  /**
   * Stores `body` as the artifact `version`/`arch` with the signature file `signatureText`;
   * replaces an artifact of the same name. The body is read to its end or until it passes
   * `maxBytes` (413; the caller closes the connection).
   */
  async put(
    version: string,
    arch: string,
    signatureText: string,
    body: Readable,
  ): Promise<PutResult> {
    const bad = (message: string): PutResult => ({
      ok: false,
      status: 400,
      code: ErrorCode.invalidArtifact,
      message,
    });
    if (!VERSION_PATTERN.test(version))
      return bad(`version: expected MAJOR.MINOR.PATCH[-pre][+build], got "${clip(version)}"`);
    if (!isArch(arch))
      return bad(`arch: expected one of ${ARTIFACT_ARCHES.join(', ')}, got "${clip(arch)}"`);
    const json = decodeJson(signatureText, { maxBytes: MAX_SIGNATURE_BYTES });
    if (!json.ok) return bad(`signature: expected a JSON signature file, got ${json.message}`);
    const shape = artifactSignature(json.value, 'signature');
    if (!shape.ok) return bad(shape.error);
    if (this.#trustedKeys.length > 0) {
      const check = verifyArtifactSignature(shape.value, this.#trustedKeys);
      if (!check.ok) return bad(`signature: ${check.message} (the hub's --update-key)`);
    }
    const signature = json.value as Record<string, unknown>;
    if (shape.value.version !== version || shape.value.arch !== arch)
      return bad(
        `signature: it signs ${shape.value.version}/${shape.value.arch}, the upload is ${version}/${arch}`,
      );
    if (shape.value.size > this.maxBytes)
      return {
        ok: false,
        status: 413,
        code: ErrorCode.payloadTooLarge,
        message: `an artifact is at most ${this.maxBytes} bytes (--artifact-max-bytes)`,
      };

    const incoming = join(this.dir, '.incoming');
    await mkdir(incoming, { recursive: true });
    const id = randomBytes(8).toString('hex');
    const part = join(incoming, `${id}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const max = this.maxBytes;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > max) return done(new ArtifactTooLarge(`over ${max} bytes`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // The body is piped, not part of the pipeline: past the bound the pipeline ends with an error
    // while the request stays open, so that the caller can still answer 413 on it.
    const onBodyError = (err: Error): void => void count.destroy(err);
    body.once('error', onBodyError);
    body.pipe(count);
    try {
      await pipeline(count, createWriteStream(part, { flags: 'wx' }));
    } catch (err) {
      body.unpipe(count);
      await rm(part, { force: true });
      if (err instanceof ArtifactTooLarge)
        return {
          ok: false,
          status: 413,
          code: ErrorCode.payloadTooLarge,
          message: `an artifact is at most ${this.maxBytes} bytes (--artifact-max-bytes)`,
        };
      throw err;
    } finally {
      body.off('error', onBodyError);
    }
    const sha256 = hash.digest('hex');
    if (size !== shape.value.size || sha256 !== shape.value.sha256) {
      await rm(part, { force: true });
      return bad(
        `the upload is ${size} bytes with sha256 ${sha256}; the signature file says ${shape.value.size} bytes with sha256 ${shape.value.sha256}`,
      );
    }
    await fsyncFile(part);
    const meta: ArtifactInfo = {
      version,
      arch,
      size,
      sha256,
      uploaded_at: this.#now().toISOString(),
    };
    // Built beside, then renamed into place whole: a reader sees the old artifact or the new.
    const staging = join(incoming, `${id}.dir`);
    await mkdir(staging);
    await rename(part, join(staging, 'agent'));
    await writeFile(join(staging, 'signature.json'), signatureText);
    await writeFile(join(staging, 'meta.json'), JSON.stringify(meta));
    const target = join(this.dir, version, arch);
    await mkdir(join(this.dir, version), { recursive: true });
    const old = join(incoming, `${id}.old`);
    await rename(target, old).catch(() => {});
    await rename(staging, target);
    await rm(old, { recursive: true, force: true });
    this.#artifacts.set(key(version, arch), {
      ...meta,
      signature,
      path: join(target, 'agent'),
    });
    return { ok: true, artifact: meta };
  }

  /** Removes an artifact; false when there was none. An update streaming it keeps its open file. */
  async delete(version: string, arch: string): Promise<boolean> {
    const artifact = this.#artifacts.get(key(version, arch));
    if (!artifact) return false;
    this.#artifacts.delete(key(version, arch));
    await rm(join(this.dir, version, arch), { recursive: true, force: true });
    await rm(join(this.dir, version), { recursive: false, force: true }).catch(() => {});
    return true;
  }

  /** Opens an artifact's binary for reading (the update sender reads it by position). */
  open(artifact: Artifact): Promise<FileHandle> {
    return open(artifact.path, 'r');
  }
}

function isArch(text: string): boolean {
  return (ARTIFACT_ARCHES as readonly string[]).includes(text);
}

function key(version: string, arch: string): string {
  return `${version}/${arch}`;
}

function info(artifact: Artifact): ArtifactInfo {
  const { version, arch, size, sha256, uploaded_at } = artifact;
  return { version, arch, size, sha256, uploaded_at };
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}
