import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  DeviceCredentials,
  diffCredentials,
  type DeviceCredentialEntry,
} from '../../src/hub/device-credentials.js';
import {
  DeviceTokensFileError,
  MAX_DEVICE_TOKENS,
  MAX_DEVICE_TOKENS_FILE_BYTES,
  MAX_DEVICE_TOKENS_LINE_CHARS,
  parseDeviceTokensFile,
} from '../../src/hub/device-tokens-file.js';
import { DeviceTokensSource, readFileAtMost } from '../../src/roots/device-tokens-source.js';

const TA = 'token-a-0123456789abcdef';
const TB = 'token-b-0123456789abcdef';
const TC = 'token-c-0123456789abcdef';
const hex = (token: string): string => createHash('sha256').update(token).digest('hex');

function refused(content: string, pattern: RegExp): void {
  assert.throws(
    () => parseDeviceTokensFile(content, 'fleet.tokens'),
    (err: unknown) =>
      err instanceof DeviceTokensFileError &&
      err.code === 'device_tokens_invalid' &&
      pattern.test(err.message),
  );
}

describe('device tokens file', () => {
  it('reads tokens and sha256 digests, skipping comments and blank lines', () => {
    const entries = parseDeviceTokensFile(
      `# fleet A\n\n  \ndev-1=${TA}\r\n  # indented comment\ndev-2 = sha256:${hex(TB).toUpperCase()}\n`,
      'fleet.tokens',
    );
    assert.deepEqual(entries, [
      { deviceId: 'dev-1', secret: { kind: 'token', token: TA }, line: 4 },
      {
        deviceId: 'dev-2',
        secret: { kind: 'sha256', digest: Buffer.from(hex(TB), 'hex') },
        line: 6,
      },
    ]);
    assert.deepEqual(parseDeviceTokensFile('', 'f'), []);
    assert.deepEqual(parseDeviceTokensFile('# nothing yet\n', 'f'), []);
  });

  it('names FILE:LINE and what was wrong, never the token', () => {
    refused(
      `dev-1=${TA}\ndev-2\n`,
      /^fleet\.tokens:2: expected DEVICE_ID=TOKEN or DEVICE_ID=sha256:HEX, got no "="$/,
    );
    refused(`bad id=${TA}`, /^fleet\.tokens:1: expected a device id matching/);
    refused('dev-1=', /^fleet\.tokens:1: device "dev-1": expected a token after "="$/);
    refused(
      'dev-1=short',
      /^fleet\.tokens:1: device "dev-1": a token of 5 characters \(expected 16 to 512, random\)$/,
    );
    refused(`dev-1=${'x'.repeat(513)}`, /:1: device "dev-1": a token of 513 characters/);
    refused(
      `dev-1=with space ${TA}`,
      /:1: device "dev-1": a token is printable ASCII without spaces/,
    );
    refused('dev-1=sha256:abc', /:1: device "dev-1": expected sha256: and 64 hex digits/);
    refused(`dev-1=sha256:${'g'.repeat(64)}`, /expected sha256: and 64 hex digits/);
    refused(
      `dev-1=${TA}\n\ndev-1=${TB}\n`,
      /^fleet\.tokens:3: device "dev-1" is given again \(first on line 1\)$/,
    );
    assert.throws(
      () => parseDeviceTokensFile('dev-1=short-secret', 'f'),
      (err: Error) => !err.message.includes('short-secret'),
    );
  });

  it('bounds the file, each line and the number of devices', () => {
    refused(
      `dev-1=${TA}\n#${'x'.repeat(MAX_DEVICE_TOKENS_LINE_CHARS)}\n`,
      /^fleet\.tokens:2: a line of 1025 characters \(at most 1024\)$/,
    );
    const huge = Buffer.alloc(MAX_DEVICE_TOKENS_FILE_BYTES + 1, 0x23);
    assert.throws(
      () => parseDeviceTokensFile(huge, 'big'),
      /^DeviceTokensFileError: big: 67108865 bytes, more than the 67108864/,
    );
    const lines: string[] = [];
    for (let i = 0; i <= MAX_DEVICE_TOKENS; i++) lines.push(`d${i}=${TA}`);
    // The count is checked before the line is read: an over-long list fails at its first extra line.
    refused(
      lines.join('\n'),
      new RegExp(
        `^fleet\\.tokens:${MAX_DEVICE_TOKENS + 1}: more than ${MAX_DEVICE_TOKENS} devices$`,
      ),
    );
  });

  it('reads a file at most its bound, without reading on past it', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tokens-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'f');
    writeFileSync(file, 'x'.repeat(3000));
    assert.equal(readFileAtMost(file, 3000).length, 3000);
    assert.throws(() => readFileAtMost(file, 2999), /larger than 2999 bytes/);
    // A character device that never ends is cut at the bound.
    assert.throws(() => readFileAtMost('/dev/zero', 4096), /larger than 4096 bytes/);
  });
});

function entries(pairs: Array<[string, string]>): DeviceCredentialEntry[] {
  return pairs.map(([deviceId, token], i) => ({
    deviceId,
    secret: token.startsWith('sha256:')
      ? { kind: 'sha256', digest: Buffer.from(token.slice(7), 'hex') }
      : { kind: 'token', token },
    source: `f:${i + 1}`,
  }));
}

describe('device credentials (hashed)', () => {
  it('finds a device by a token given as itself or as its digest', () => {
    const credentials = new DeviceCredentials(
      entries([
        ['a', TA],
        ['b', `sha256:${hex(TB)}`],
      ]),
    );
    assert.equal(credentials.deviceOf(TA), 'a');
    assert.equal(credentials.deviceOf(TB), 'b');
    assert.equal(credentials.deviceOf(TC), null);
    assert.equal(credentials.deviceOf(`sha256:${hex(TB)}`), null, 'the digest is not the token');
    assert.deepEqual(
      credentials.authenticate({ authorization: `Bearer ${TB}`, 'x-iottly-device-id': 'b' }),
      {
        ok: true,
        deviceId: 'b',
      },
    );
    assert.equal(credentials.size, 2);
  });

  it('compares every candidate with timingSafeEqual on two 32-byte digests, hit or miss', (t) => {
    // The module imports timingSafeEqual by name: the builtin's ESM exports are re-synced from
    // its CommonJS object so that the wrapper is what it calls, and synced back after.
    const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
    const calls: Array<[number, number]> = [];
    const real = crypto.timingSafeEqual;
    t.mock.method(crypto, 'timingSafeEqual', (x: Buffer, y: Buffer) => {
      calls.push([x.length, y.length]);
      return real(x, y);
    });
    syncBuiltinESMExports();
    t.after(() => {
      t.mock.restoreAll();
      syncBuiltinESMExports();
    });
    const credentials = new DeviceCredentials(entries([['a', TA]]));
    credentials.deviceOf(TA);
    credentials.deviceOf(TC);
    credentials.deviceOf('x');
    assert.deepEqual(calls, [
      [32, 32],
      [32, 32],
      [32, 32],
    ]);
  });

  it('refuses an id given twice and two devices with one token, naming both sources', () => {
    assert.throws(
      () =>
        new DeviceCredentials(
          entries([
            ['a', TA],
            ['a', TB],
          ]),
        ),
      /^TypeError: f:2: device "a" is given again \(first in f:1\)$/,
    );
    assert.throws(
      () =>
        new DeviceCredentials(
          entries([
            ['a', TA],
            ['b', `sha256:${hex(TA)}`],
          ]),
        ),
      /^TypeError: f:2: device "b" shares its token with "a" \(f:1\)$/,
    );
  });

  it('tells a reload what it added, removed and changed', () => {
    const before = new DeviceCredentials(
      entries([
        ['a', TA],
        ['b', TB],
        ['c', TC],
      ]),
    );
    const after = new DeviceCredentials(
      entries([
        ['a', `sha256:${hex(TA)}`], // same token, now given as its digest
        ['c', TB], // another token
        ['d', 'token-d-0123456789abcdef'],
      ]),
    );
    assert.deepEqual(diffCredentials(before, after), {
      added: ['d'],
      removed: ['b'],
      changed: ['c'],
    });
    assert.deepEqual(diffCredentials(after, after), { added: [], removed: [], changed: [] });
  });
});

describe('device tokens source', () => {
  it('joins --device-token flags and the file; a conflict names both', () => {
    const files: Record<string, string> = {
      '/ok': `b=${TB}\n`,
      '/clash': `# x\na=${TB}\n`,
      '/twice': `b=${TB}\n\nb=${TC}\n`,
      '/shared': `b=${TB}\nc=sha256:${hex(TB)}\n`,
      '/bad': `b=${TB}\nc\n`,
    };
    const read = (path: string): Buffer => {
      const text = files[path];
      if (text === undefined) throw new Error('ENOENT: no such file');
      return Buffer.from(text);
    };
    const source = (path: string | null) =>
      new DeviceTokensSource({ flagTokens: new Map([['a', TA]]), path, read });
    assert.deepEqual(source('/ok').load().deviceIds(), ['a', 'b']);
    assert.deepEqual(source(null).load().deviceIds(), ['a']);
    assert.throws(
      () => source('/clash').load(),
      /^DeviceTokensFileError: \/clash:2: device "a" is given again \(first in --device-token\)$/,
    );
    assert.throws(
      () => source('/gone').load(),
      /^DeviceTokensFileError: \/gone: cannot read it: ENOENT/,
    );
    for (const [path, message] of [
      [
        '/twice',
        /^DeviceTokensFileError: \/twice:3: device "b" is given again \(first in \/twice:1\)$/,
      ],
      [
        '/shared',
        /^DeviceTokensFileError: \/shared:2: device "c" shares its token with "b" \(\/shared:1\)$/,
      ],
      ['/bad', /^DeviceTokensFileError: \/bad:2: expected DEVICE_ID=TOKEN/],
    ] as const) {
      assert.throws(
        () => source(path).load(),
        (err: Error & { code?: string }) =>
          err.code === 'device_tokens_invalid' && message.test(String(err)),
        path,
      );
    }
  });
});
