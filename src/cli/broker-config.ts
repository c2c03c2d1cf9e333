import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mosquittoAclFile } from '../broker-access/mosquitto-acl.js';
import {
  MOSQUITTO_SALT_BYTES,
  mosquittoPasswordFile,
  type BrokerCredential,
} from '../broker-access/mosquitto-passwords.js';
import { deviceUserProblem, hubUserProblem } from '../broker-access/mosquitto-users.js';
import { writeFileAtomic } from './atomic-file.js';
import {
  DeviceTokensFileError,
  MAX_DEVICE_TOKENS_FILE_BYTES,
  parseDeviceTokensFile,
} from '../hub/device-tokens-file.js';
import { readFileAtMost, type ReadBounded } from '../roots/device-tokens-source.js';
import { ExitCode } from './exit-codes.js';
import { UsageError } from './usage-error.js';

/**
 * `iottly-agent broker-config mosquitto --out DIR --device-token ID=TOKEN… --hub-credential
 * USER=PASSWORD…`: the fleet's access policy (docs/protocol.md, "Access control") as mosquitto's
 * `DIR/passwords` (0600) and `DIR/acl` (0644), each written to a temporary file and renamed over
 * the old one, so mosquitto (reloaded with SIGHUP) never reads half a file. Every run writes the
 * whole policy: the files hold exactly the devices and hubs given.
 */
const KINDS = ['mosquitto'] as const;

export interface BrokerConfigArgs {
  outDir: string;
  devices: BrokerCredential[];
  hubs: BrokerCredential[];
}

export interface BrokerConfigDependencies {
  readFile: (path: string) => string;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Salts for the password hashes (default crypto.randomBytes). */
  randomBytes?: (size: number) => Buffer;
  writeFile?: (path: string, content: string, mode: number) => void;
  /** How --device-tokens is read (default: from disk, at most its size bound). */
  readBounded?: ReadBounded;
}

/** Writes the files; returns the exit code. A bad command line throws a UsageError (64). */
export function runBrokerConfig(argv: string[], deps: BrokerConfigDependencies): number {
  const args = parseBrokerConfigArgs(argv, deps.readFile, deps.readBounded);
  const salt = (): Buffer => (deps.randomBytes ?? randomBytes)(MOSQUITTO_SALT_BYTES);
  const passwords = mosquittoPasswordFile([...args.devices, ...args.hubs], salt);
  const acl = mosquittoAclFile(args.hubs.map((hub) => hub.username));
  const write = deps.writeFile ?? writeFileAtomic;
  const passwordsPath = join(args.outDir, 'passwords');
  const aclPath = join(args.outDir, 'acl');
  try {
    write(passwordsPath, passwords, 0o600);
    write(aclPath, acl, 0o644);
  } catch (err) {
    deps.stderr.write(`iottly-agent broker-config: ${(err as Error).message}\n`);
    return ExitCode.cannotCreate;
  }
  deps.stdout.write(
    `wrote ${passwordsPath} (${count(args.devices.length, 'device')}, ${count(args.hubs.length, 'hub')}) and ${aclPath}\n`,
  );
  return ExitCode.ok;
}

export function parseBrokerConfigArgs(
  argv: string[],
  readFile: (path: string) => string,
  readBounded: ReadBounded = readFileAtMost,
): BrokerConfigArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        'device-token': { type: 'string', multiple: true },
        'device-token-file': { type: 'string', multiple: true },
        'device-tokens': { type: 'string', multiple: true },
        'hub-credential': { type: 'string', multiple: true },
        'hub-credential-file': { type: 'string', multiple: true },
      },
    });
  } catch (err) {
    throw new UsageError(`broker-config: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  const { values, positionals } = parsed;
  const [kind, ...extra] = positionals;
  if (kind === undefined || !(KINDS as readonly string[]).includes(kind) || extra.length > 0) {
    throw new UsageError(
      `broker-config: expected the broker kind (${KINDS.join(', ')}), got ${positionals.length === 0 ? 'none' : `"${clip(positionals.join(' '))}"`}`,
    );
  }
  const outDir = values.out;
  if (outDir === undefined || outDir.trim() === '')
    throw new UsageError('broker-config: --out DIR is required');

  const fromFiles = (flag: string, paths: string[] | undefined): Entry[] =>
    (paths ?? []).flatMap((path) => fileEntries(flag, path, readFile));
  const fromArgs = (flag: string, texts: string[] | undefined): Entry[] =>
    (texts ?? []).map((text) => ({ source: flag, text }));

  const devices = credentials(
    [
      ...fromArgs('--device-token', values['device-token']),
      ...fromFiles('--device-token-file', values['device-token-file']),
      ...(values['device-tokens'] ?? []).flatMap((path) => tokensFileEntries(path, readBounded)),
    ],
    'device',
    deviceUserProblem,
  );
  const hubs = credentials(
    [
      ...fromArgs('--hub-credential', values['hub-credential']),
      ...fromFiles('--hub-credential-file', values['hub-credential-file']),
    ],
    'hub user',
    hubUserProblem,
  );
  if (devices.length === 0) {
    throw new UsageError(
      'broker-config: expected at least one --device-token, --device-token-file or --device-tokens entry',
    );
  }
  if (hubs.length === 0) {
    throw new UsageError(
      'broker-config: expected at least one --hub-credential or --hub-credential-file entry (the hubs read the fleet with it)',
    );
  }
  const hubNames = new Set(hubs.map((hub) => hub.username));
  const both = devices.find((device) => hubNames.has(device.username));
  if (both) {
    throw new UsageError(
      `broker-config: "${both.username}" is given as a device and as a hub user (one broker user each)`,
    );
  }
  return { outDir, devices, hubs };
}

/** One ID=SECRET as given, with where it came from (a flag, or a file and line) for messages. */
interface Entry {
  source: string;
  text: string;
}

function fileEntries(flag: string, path: string, readFile: (path: string) => string): Entry[] {
  let content: string;
  try {
    content = readFile(path);
  } catch (err) {
    throw new UsageError(`${flag}: cannot read "${path}": ${(err as Error).message}`);
  }
  const entries = content
    .split('\n')
    .map((line, i) => ({ source: `${flag} ${path}:${i + 1}`, text: line.replace(/\r$/, '') }))
    .filter(({ text }) => text.trim() !== '' && !text.startsWith('#'));
  if (entries.length === 0) throw new UsageError(`${flag}: "${path}" holds no entries`);
  return entries;
}

/**
 * The hub's `--device-tokens FILE` (hub/device-tokens-file.ts), each line an entry named
 * `--device-tokens FILE:LINE`. A `sha256:` line is refused: mosquitto's `$7$` hash is PBKDF2 of
 * the token under a salt of its own, which a digest cannot give.
 */
function tokensFileEntries(path: string, readBounded: ReadBounded): Entry[] {
  let content: Buffer;
  try {
    content = readBounded(path, MAX_DEVICE_TOKENS_FILE_BYTES);
  } catch (err) {
    throw new UsageError(`--device-tokens: cannot read "${path}": ${(err as Error).message}`);
  }
  let parsed;
  try {
    parsed = parseDeviceTokensFile(content, path);
  } catch (err) {
    if (err instanceof DeviceTokensFileError)
      throw new UsageError(`--device-tokens ${err.message}`);
    throw err;
  }
  if (parsed.length === 0) throw new UsageError(`--device-tokens: "${path}" holds no entries`);
  return parsed.map(({ deviceId, secret, line }) => {
    const source = `--device-tokens ${path}:${line}`;
    if (secret.kind === 'sha256') {
      throw new UsageError(
        `${source}: device "${deviceId}" is given as sha256: — mosquitto's password file needs the token itself (the hub alone can take a digest)`,
      );
    }
    return { source, text: `${deviceId}=${secret.token}` };
  });
}

function credentials(
  entries: Entry[],
  what: string,
  problem: (name: string) => string | null,
): BrokerCredential[] {
  const seen = new Set<string>();
  return entries.map(({ source, text }) => {
    const eq = text.indexOf('=');
    if (eq < 0) throw new UsageError(`${source}: expected NAME=SECRET, got no "="`);
    const username = text.slice(0, eq);
    const password = text.slice(eq + 1);
    const bad = problem(username);
    if (bad !== null) throw new UsageError(`${source}: ${what} "${clip(username)}": ${bad}`);
    if (password.length === 0)
      throw new UsageError(`${source}: expected a non-empty secret for ${what} "${username}"`);
    if (seen.has(username)) throw new UsageError(`${source}: ${what} "${username}" is given twice`);
    seen.add(username);
    return { username, password };
  });
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
