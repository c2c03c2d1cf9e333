import assert from 'node:assert/strict';
import { createHash, pbkdf2Sync } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mosquittoAclFile } from '../../src/broker-access/mosquitto-acl.js';
import {
  mosquittoPasswordFile,
  mosquittoPasswordHash,
} from '../../src/broker-access/mosquitto-passwords.js';
import { writeFileAtomic } from '../../src/cli/atomic-file.js';
import { parseBrokerConfigArgs, runBrokerConfig } from '../../src/cli/broker-config.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * `iottly-agent broker-config mosquitto`: the files' formats and the command line's refusals.
 * test/integration/broker-config.test.ts runs the files in a real mosquitto.
 */
const salt = Buffer.from('0123456789ab');
const noFiles = (path: string): string => {
  throw new Error(`ENOENT: no such file, open '${path}'`);
};

describe('mosquitto files', () => {
  it('hashes as $7$ PBKDF2-SHA512: 101 iterations, the 12-byte salt and 64-byte hash in base64', () => {
    const line = mosquittoPasswordHash('tok1', salt);
    const [, kind, iterations, salt64, hash64] = line.split('$');
    assert.equal(kind, '7');
    assert.equal(iterations, '101');
    assert.deepEqual(Buffer.from(salt64 ?? '', 'base64'), salt);
    assert.deepEqual(
      Buffer.from(hash64 ?? '', 'base64'),
      pbkdf2Sync('tok1', salt, 101, 64, 'sha512'),
    );
    assert.throws(() => mosquittoPasswordHash('x', Buffer.alloc(16)), /salt is 12 bytes, got 16/);
  });

  it('writes one user:hash line per credential, each with a salt of its own', () => {
    let n = 0;
    const salts = (): Buffer => createHash('sha256').update(String(++n)).digest().subarray(0, 12);
    const text = mosquittoPasswordFile(
      [
        { username: 'dev1', password: 'a' },
        { username: 'hub', password: 'a' },
      ],
      salts,
    );
    const lines = text.split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[2], '');
    assert.match(lines[0] ?? '', /^dev1:\$7\$101\$/);
    assert.match(lines[1] ?? '', /^hub:\$7\$101\$/);
    assert.notEqual(lines[0]?.split('$')[3], lines[1]?.split('$')[3], 'salts differ');
  });

  it('grants devices their own up, presence (write) and down (read), and hubs the prefix', () => {
    const rules = mosquittoAclFile(['hub-a', 'hub-b'])
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'));
    assert.deepEqual(rules, [
      'pattern write iottly/v1/devices/%u/up',
      'pattern write iottly/v1/devices/%u/presence',
      'pattern read iottly/v1/devices/%u/down',
      'user hub-a',
      'topic readwrite iottly/v1/#',
      'user hub-b',
      'topic readwrite iottly/v1/#',
    ]);
  });
});

describe('broker-config command line', () => {
  const base = ['mosquitto', '--out', '/x', '--hub-credential', 'hub=pw'];

  it('takes credentials from flags and files, keeping what follows the first = as the secret', () => {
    const files: Record<string, string> = {
      '/devices': '# fleet A\ndev2=t2==\r\n\n  \ndev3=t 3\n',
      '/hubs': 'hub2=p2\n',
    };
    const args = parseBrokerConfigArgs(
      [
        ...base,
        '--device-token',
        'dev1=t1',
        '--device-token-file',
        '/devices',
        '--hub-credential-file',
        '/hubs',
      ],
      (path) => files[path] ?? noFiles(path),
    );
    assert.deepEqual(args, {
      outDir: '/x',
      devices: [
        { username: 'dev1', password: 't1' },
        { username: 'dev2', password: 't2==' },
        { username: 'dev3', password: 't 3' },
      ],
      hubs: [
        { username: 'hub', password: 'pw' },
        { username: 'hub2', password: 'p2' },
      ],
    });
  });

  it("reads the hub's --device-tokens file, refusing its sha256: lines and naming FILE:LINE", () => {
    const token = 'token-0123456789abcdef';
    const digest = 'a'.repeat(64);
    const files: Record<string, string> = {
      '/fleet': `# the hub's file\ndev2=${token}\n\ndev3 = ${token}x\n`,
      '/hashed': `dev2=${token}\ndev4=sha256:${digest}\n`,
      '/short': 'dev2=abc\n',
      '/clash': `dev1=${token}\n`,
      '/empty': '# no one yet\n',
    };
    const readBounded = (path: string): Buffer => {
      const text = files[path];
      if (text === undefined) throw new Error('ENOENT: no such file');
      return Buffer.from(text);
    };
    const parse = (...extra: string[]) =>
      parseBrokerConfigArgs([...base, ...extra], noFiles, readBounded);
    assert.deepEqual(parse('--device-tokens', '/fleet').devices, [
      { username: 'dev2', password: token },
      { username: 'dev3', password: `${token}x` },
    ]);
    const refusals: Array<[string[], RegExp]> = [
      [
        ['--device-tokens', '/hashed'],
        /^--device-tokens \/hashed:2: device "dev4" is given as sha256: — mosquitto's password file needs the token itself/,
      ],
      [
        ['--device-tokens', '/short'],
        /^--device-tokens \/short:1: device "dev2": a token of 3 characters/,
      ],
      [
        ['--device-token', 'dev1=a', '--device-tokens', '/clash'],
        /^--device-tokens \/clash:1: device "dev1" is given twice$/,
      ],
      [['--device-tokens', '/empty'], /^--device-tokens: "\/empty" holds no entries$/],
      [['--device-tokens', '/gone'], /^--device-tokens: cannot read "\/gone": ENOENT/],
    ];
    for (const [extra, message] of refusals) {
      assert.throws(
        () => parse(...extra),
        (err: Error) => err instanceof UsageError && message.test(err.message),
        extra.join(' '),
      );
    }
  });

  it('refuses what mosquitto could not hold or the fleet could not use, naming the entry', () => {
    const files: Record<string, string> = {
      '/empty': '# nothing yet\n\n',
      '/bad': 'dev9=a\nd/2=b\n',
    };
    const read = (path: string): string => files[path] ?? noFiles(path);
    const refusals: Array<[string[], RegExp]> = [
      [['--out', '/x'], /expected the broker kind \(mosquitto\), got none/],
      [['emqx', '--out', '/x'], /expected the broker kind \(mosquitto\), got "emqx"/],
      [['mosquitto', '--device-token', 'a=b', '--hub-credential', 'h=p'], /--out DIR is required/],
      [[...base, '--bogus'], /broker-config: Unknown option '--bogus'/],
      [base, /expected at least one --device-token, --device-token-file or --device-tokens entry/],
      [
        ['mosquitto', '--out', '/x', '--device-token', 'dev1=a'],
        /expected at least one --hub-credential or --hub-credential-file entry/,
      ],
      [[...base, '--device-token', 'dev1'], /--device-token: expected NAME=SECRET, got no "="/],
      [[...base, '--device-token', 'dev1='], /expected a non-empty secret for device "dev1"/],
      [[...base, '--device-token', 'dev 1=a'], /device "dev 1": expected a device id matching/],
      [
        [...base, '--device-token', 'a:b=a'],
        /device "a:b": a device id with ':' cannot be a mosquitto username/,
      ],
      [
        [...base, '--device-token', 'dev1=a', '--device-token', 'dev1=b'],
        /device "dev1" is given twice/,
      ],
      [
        [...base, '--device-token', 'dev1=a', '--device-token-file', '/bad'],
        /--device-token-file \/bad:2: device "d\/2"/,
      ],
      [
        [...base, '--device-token-file', '/empty'],
        /--device-token-file: "\/empty" holds no entries/,
      ],
      [
        [...base, '--device-token-file', '/nope'],
        /--device-token-file: cannot read "\/nope": ENOENT/,
      ],
      [
        [...base, '--device-token', 'a=b', '--hub-credential', 'hub 2=p'],
        /hub user "hub 2": expected a user name of 1 to 128 characters without ':', whitespace/,
      ],
      [[...base, '--device-token', 'a=b', '--hub-credential', 'h:2=p'], /hub user "h:2"/],
      [[...base, '--device-token', 'a=b', '--hub-credential', 'h#=p'], /hub user "h#"/],
      [
        [...base, '--device-token', 'a=b', '--hub-credential', '=p'],
        /hub user "": expected a user name/,
      ],
      [[...base, '--device-token', 'hub=b'], /"hub" is given as a device and as a hub user/],
    ];
    for (const [argv, message] of refusals) {
      assert.throws(
        () => parseBrokerConfigArgs(argv, read),
        { code: 'usage', message },
        argv.join(' '),
      );
    }
  });

  it('writes passwords 0600 and acl 0644 into a folder it creates, replacing the old files', (t) => {
    const out = join(tempDir('iottly-broker-config-', t), 'conf');
    const stdout: string[] = [];
    const run = (argv: string[]): number =>
      runBrokerConfig(argv, {
        readFile: noFiles,
        stdout: { write: (text: string) => stdout.push(text) },
        stderr: { write: () => true },
      });
    const argv = ['mosquitto', '--out', out, '--hub-credential', 'hub=pw'];
    assert.equal(run([...argv, '--device-token', 'dev1=a', '--device-token', 'dev2=b']), 0);
    assert.equal(statSync(join(out, 'passwords')).mode & 0o777, 0o600);
    assert.equal(statSync(join(out, 'acl')).mode & 0o777, 0o644);
    assert.equal(stdout[0], `wrote ${out}/passwords (2 devices, 1 hub) and ${out}/acl\n`);
    assert.equal(run([...argv, '--device-token', 'dev3=c']), 0);
    const users = readFileSync(join(out, 'passwords'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(':')[0]);
    assert.deepEqual(users, ['dev3', 'hub'], 'the whole policy each time');
  });

  it('exits 73 naming the path when the folder cannot be written', (t) => {
    const file = join(tempDir('iottly-broker-config-', t), 'a-file');
    writeFileSync(file, '');
    const stderr: string[] = [];
    const code = runBrokerConfig(
      [
        'mosquitto',
        '--out',
        join(file, 'conf'),
        '--device-token',
        'd=a',
        '--hub-credential',
        'h=p',
      ],
      {
        readFile: noFiles,
        stdout: { write: () => true },
        stderr: { write: (s: string) => stderr.push(s) },
      },
    );
    assert.equal(code, 73);
    assert.match(
      stderr.join(''),
      /^iottly-agent broker-config: cannot write ".*a-file\/conf\/passwords": ENOTDIR/,
    );
  });
});

describe('writeFileAtomic', () => {
  it('sets exactly the mode asked whatever the umask, and leaves no temporary file', (t) => {
    const dir = tempDir('iottly-atomic-', t);
    const path = join(dir, 'f');
    const umask = process.umask(0o077);
    try {
      writeFileAtomic(path, 'one', 0o644);
    } finally {
      process.umask(umask);
    }
    assert.equal(statSync(path).mode & 0o777, 0o644);
    writeFileAtomic(path, 'two', 0o600);
    assert.equal(readFileSync(path, 'utf8'), 'two');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['f']);
  });
});
