import { execFile } from 'node:child_process';
import { generateKeyPairSync, createHash } from 'node:crypto';
import { createReadStream, existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ARTIFACT_ARCHES,
  artifactSignature,
  MAX_ARTIFACT_BYTES,
  VERSION_PATTERN,
  type ArtifactArch,
} from '../protocol/update-artifact.js';
import { publicKeyText, signArtifact } from '../protocol/update-signature.js';
import { writeFileAtomic } from './atomic-file.js';
import { ExitCode } from './exit-codes.js';
import { UsageError } from './usage-error.js';

/**
 * `iottly-agent keygen [--out DIR]` and `iottly-agent sign BINARY --key KEY [--version V]
 * [--arch A]`: the operator's side of agent updates (README "Updating the agent"). The key pair
 * is ed25519; the signature file's shape is src/protocol/update-artifact.ts.
 */
export interface SigningOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

export const KEY_FILE = 'iottly-update.key';
export const PUBLIC_KEY_FILE = 'iottly-update.pub';

/** parseArgs with its errors as usage errors (exit 64). */
function parse<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function runKeygen(argv: string[], out: SigningOutput): number {
  const { values } = parse(() =>
    parseArgs({
      args: argv,
      options: { out: { type: 'string' }, force: { type: 'boolean' } },
      strict: true,
    }),
  );
  const dir = values.out ?? '.';
  const keyPath = join(dir, KEY_FILE);
  const pubPath = join(dir, PUBLIC_KEY_FILE);
  if (!values.force && existsSync(keyPath))
    throw new UsageError(`${keyPath} exists: keep it, or remove it (or --force) to make a new one`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const text = publicKeyText(publicKey);
  try {
    writeFileAtomic(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 0o600);
    writeFileAtomic(pubPath, `${text}\n`, 0o644);
  } catch (err) {
    out.stderr.write(`iottly-agent keygen: ${(err as Error).message}\n`);
    return ExitCode.cannotCreate;
  }
  out.stdout.write(
    `${text}\nprivate key: ${keyPath} (0600; keep it off devices)\npublic key:  ${pubPath} (put it in update.publicKeys)\n`,
  );
  return ExitCode.ok;
}

export interface SignDependencies extends SigningOutput {
  readFile: (path: string) => string;
  /** Runs `BINARY version` to learn the version when --version is not given. */
  binaryVersion?: (path: string) => Promise<string>;
}

export async function runSign(argv: string[], deps: SignDependencies): Promise<number> {
  const { values, positionals } = parse(() =>
    parseArgs({
      args: argv,
      options: {
        key: { type: 'string' },
        version: { type: 'string' },
        arch: { type: 'string' },
        out: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    }),
  );
  const [binary, ...extra] = positionals;
  if (binary === undefined || extra.length > 0) throw new UsageError('sign takes one BINARY');
  if (values.key === undefined)
    throw new UsageError('sign needs --key KEY (from iottly-agent keygen)');
  const stat = statSync(binary, { throwIfNoEntry: false });
  if (!stat?.isFile()) throw new UsageError(`${binary} is not a file`);
  if (stat.size < 1 || stat.size > MAX_ARTIFACT_BYTES)
    throw new UsageError(`${binary} is ${stat.size} bytes: expected 1 to ${MAX_ARTIFACT_BYTES}`);
  const arch = values.arch ?? elfArch(binary);
  if (arch === undefined)
    throw new UsageError(
      `cannot tell ${binary}'s architecture (not an x64/arm64/arm ELF): give --arch`,
    );
  if (!(ARTIFACT_ARCHES as readonly string[]).includes(arch))
    throw new UsageError(`--arch must be one of ${ARTIFACT_ARCHES.join(', ')} (got "${arch}")`);
  let version = values.version;
  if (version === undefined) {
    version = await (deps.binaryVersion ?? runBinaryVersion)(binary).catch((err: unknown) => {
      throw new UsageError(
        `cannot run "${binary} version" to read its version (${(err as Error).message}): give --version`,
      );
    });
  }
  if (!VERSION_PATTERN.test(version) || version.length > 64)
    throw new UsageError(
      `the version must be MAJOR.MINOR.PATCH[-pre] (got "${version.slice(0, 70)}")`,
    );
  const signature = signArtifact(
    { version, arch: arch as ArtifactArch, size: stat.size, sha256: await sha256File(binary) },
    deps.readFile(values.key),
  );
  // The file must pass the same validator the hub and the agent apply.
  if (!artifactSignature(signature, 'signature').ok) throw new Error('signature shape mismatch');
  const sigPath = values.out ?? `${binary}.sig`;
  try {
    writeFileAtomic(sigPath, `${JSON.stringify(signature, null, 2)}\n`, 0o644);
  } catch (err) {
    deps.stderr.write(`iottly-agent sign: ${(err as Error).message}\n`);
    return ExitCode.cannotCreate;
  }
  deps.stdout.write(
    `${sigPath}: version ${version}, arch ${arch}, ${stat.size} bytes, sha256 ${signature.sha256}, key ${signature.key_id}\n`,
  );
  return ExitCode.ok;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The architecture in an ELF header's e_machine (little-endian: the three we build). */
export function elfArch(path: string): ArtifactArch | undefined {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46 || header[5] !== 1) return undefined;
  switch (header.readUInt16LE(18)) {
    case 0x3e:
      return 'x64';
    case 0xb7:
      return 'arm64';
    case 0x28:
      return 'arm';
    default:
      return undefined;
  }
}

function runBinaryVersion(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ['version'], { timeout: 30_000, maxBuffer: 4096 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout.trim()),
    );
  });
}
