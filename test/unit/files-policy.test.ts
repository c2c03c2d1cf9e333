import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCpArgs, remoteSpec, retryDelayMs } from '../../src/cli/cp.js';
import { Access, mayAccess } from '../../src/files/access.js';
import { hashPrefix } from '../../src/files/hash-range.js';
import { PathPolicy, within } from '../../src/files/path-policy.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { filePutPayload, fileGetPayload } from '../../src/protocol/file-sessions.js';
import { tempDir } from '../helpers/temp-dir.js';

/** The path policy on real directories, the permission bits, hashing a prefix, cp's arguments. */
function tree(t: { after: (fn: () => void) => void }) {
  const base = tempDir('iottly-files-unit-', t);
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'sub', 'a.txt'), 'a');
  writeFileSync(join(outside, 'secret'), 's');
  symlinkSync(join(outside, 'secret'), join(root, 'out-link'));
  symlinkSync(outside, join(root, 'out-dir'));
  symlinkSync(join(root, 'sub', 'a.txt'), join(root, 'in-link'));
  symlinkSync(join(root, 'nothing'), join(root, 'dangling'));
  return { root, outside };
}

describe('PathPolicy', () => {
  it('allows files below a root, to read and to create', async (t) => {
    const { root } = tree(t);
    const policy = new PathPolicy({ roots: [root], account: null });
    const read = await policy.resolve(join(root, 'sub', 'a.txt'), 'read');
    assert.ok(read.ok);
    assert.equal(read.target, join(root, 'sub', 'a.txt'));
    const create = await policy.resolve(join(root, 'sub', 'new.bin'), 'write');
    assert.ok(create.ok);
    assert.equal(create.stat, null);
  });

  it('refuses everything while no root is listed, naming the key', async (t) => {
    const { root } = tree(t);
    const got = await new PathPolicy({ roots: [], account: null }).resolve(join(root, 'x'), 'read');
    assert.ok(!got.ok);
    assert.equal(got.code, ErrorCode.fileDenied);
    assert.match(got.message, /files\.allowPaths is empty/);
  });

  it('refuses .., symlinks out (as the file or a directory on the way), and paths outside', async (t) => {
    const { root, outside } = tree(t);
    const policy = new PathPolicy({ roots: [root], account: null });
    for (const [path, why] of [
      [`${root}/sub/../../outside/secret`, /may not contain "\.\."/],
      [join(outside, 'secret'), /outside files\.allowPaths/],
      [join(root, 'out-link'), /symlink that leads outside/],
      [join(root, 'out-dir', 'secret'), /outside files\.allowPaths/],
      [join(root, 'out-dir', 'new'), /outside files\.allowPaths/],
      [join(root, 'dangling'), /symlink to nothing/],
      [join(root, 'sub'), /a directory/],
      [`${root}/`, /names a directory/],
    ] as const) {
      for (const purpose of ['read', 'write'] as const) {
        const got = await policy.resolve(path, purpose);
        assert.ok(!got.ok, `${purpose} ${path} was allowed`);
        assert.equal(got.code, ErrorCode.fileDenied, `${purpose} ${path}: ${got.message}`);
        assert.match(got.message, why);
      }
    }
  });

  it('follows a symlink that stays in the roots; a root that is itself a symlink counts by its real path', async (t) => {
    const { root } = tree(t);
    const linkRoot = `${root}-alias`;
    symlinkSync(root, linkRoot);
    const policy = new PathPolicy({ roots: [linkRoot], account: null });
    const got = await policy.resolve(join(linkRoot, 'in-link'), 'read');
    assert.ok(got.ok, !got.ok ? got.message : '');
    assert.equal(got.target, join(root, 'sub', 'a.txt'));
  });

  it('says file_not_found for a missing file or directory', async (t) => {
    const { root } = tree(t);
    const policy = new PathPolicy({ roots: [root], account: null });
    for (const path of [join(root, 'none'), join(root, 'no-dir', 'x')]) {
      const got = await policy.resolve(path, 'read');
      assert.ok(!got.ok);
      assert.equal(got.code, ErrorCode.fileNotFound, got.message);
    }
  });

  it('checks the run-as account against the permission bits of the directory and the file', async (t) => {
    const { root } = tree(t);
    const stranger = { uid: 54321, gid: 54321, groups: [] };
    const policy = new PathPolicy({ roots: [root], account: stranger });
    // The temp tree is 0700/0600-ish for its owner: a stranger may not enter, read or write.
    chmodSync(join(root, 'sub'), 0o700);
    const got = await policy.resolve(join(root, 'sub', 'a.txt'), 'read');
    assert.ok(!got.ok);
    assert.equal(got.code, ErrorCode.fileDenied);
    assert.match(got.message, /may not enter/);
    chmodSync(join(root, 'sub'), 0o755);
    chmodSync(join(root, 'sub', 'a.txt'), 0o644);
    // Every directory on the way must be searchable for the stranger: the temp dir is 0700.
    chmodSync(dirname(root), 0o755);
    chmodSync(root, 0o755);
    const read = await policy.resolve(join(root, 'sub', 'a.txt'), 'read');
    assert.ok(read.ok, !read.ok ? read.message : '');
    const write = await policy.resolve(join(root, 'sub', 'b.txt'), 'write');
    assert.ok(!write.ok);
    assert.match(write.message, /may not create files/);
  });

  it('verifies an opened descriptor against the path it was opened for', async (t) => {
    const { root } = tree(t);
    const policy = new PathPolicy({ roots: [root], account: null });
    const file = join(root, 'sub', 'a.txt');
    const handle = await open(file, 'r');
    try {
      const st = await handle.stat();
      assert.equal(await policy.verifyOpened(handle.fd, file, st), true);
      assert.equal(await policy.verifyOpened(handle.fd, join(root, 'in-link'), st), false);
      // Without /proc: the same inode.
      const noProc = new PathPolicy({ roots: [root], account: null, procSelfFd: '/nonexistent' });
      assert.equal(await noProc.verifyOpened(handle.fd, file, st), true);
    } finally {
      await handle.close();
    }
  });

  it('within() matches a root and what is below it, not a sibling with the same prefix', () => {
    assert.ok(within('/srv/data', ['/srv/data']));
    assert.ok(within('/srv/data/x', ['/srv/data']));
    assert.ok(!within('/srv/database', ['/srv/data']));
    assert.ok(within('/anything', ['/']));
  });
});

describe('mayAccess', () => {
  const file = { mode: 0o640, uid: 1000, gid: 100 };
  it('uses the owner, group or other bits, supplementary groups included, and lets root do all', () => {
    assert.ok(mayAccess(file, { uid: 1000, gid: 1, groups: [] }, Access.read | Access.write));
    assert.ok(mayAccess(file, { uid: 2000, gid: 100, groups: [] }, Access.read));
    assert.ok(!mayAccess(file, { uid: 2000, gid: 100, groups: [] }, Access.write));
    assert.ok(mayAccess(file, { uid: 2000, gid: 5, groups: [100] }, Access.read));
    assert.ok(!mayAccess(file, { uid: 2000, gid: 5, groups: [] }, Access.read));
    assert.ok(mayAccess(file, { uid: 0, gid: 0, groups: [] }, Access.write));
  });
});

describe('hashPrefix', () => {
  it('hashes exactly the first bytes of a file, and says when it is shorter', async (t) => {
    const dir = tempDir('iottly-files-hash-', t);
    const path = join(dir, 'f');
    const content = Buffer.alloc(3 * 1024 * 1024 + 7, 'x');
    writeFileSync(path, content);
    const handle = await open(path, 'r');
    try {
      for (const length of [0, 1, 1024 * 1024, content.length]) {
        const hash = createHash('sha256');
        assert.equal(await hashPrefix(handle, hash, length), true);
        assert.equal(
          hash.digest('hex'),
          createHash('sha256').update(content.subarray(0, length)).digest('hex'),
        );
      }
      assert.equal(await hashPrefix(handle, createHash('sha256'), content.length + 1), false);
    } finally {
      await handle.close();
    }
  });
});

describe('file session payloads', () => {
  it('take absolute paths, 64 lower-case hex digits, bounded sizes and modes', () => {
    const sha256 = 'ab'.repeat(32);
    assert.ok(filePutPayload({ path: '/a', size: 0, sha256, mode: 0o4755 }, 'p').ok);
    assert.ok(!filePutPayload({ path: 'a', size: 0, sha256 }, 'p').ok);
    assert.ok(!filePutPayload({ path: '/a', size: 0, sha256: sha256.toUpperCase() }, 'p').ok);
    assert.ok(!filePutPayload({ path: '/a', size: 2 ** 53, sha256 }, 'p').ok);
    assert.ok(!filePutPayload({ path: '/a', size: 1, sha256, mode: 0o10000 }, 'p').ok);
    assert.ok(fileGetPayload({ path: '/a', offset: 5 }, 'p').ok);
    assert.ok(!fileGetPayload({ path: '/a\0b' }, 'p').ok);
    assert.ok(!fileGetPayload({ path: `/${'x'.repeat(4096)}` }, 'p').ok);
  });
});

describe('iottly-agent cp arguments', () => {
  const env = { IOTTLY_HUB_URL: 'http://hub:8080', IOTTLY_API_KEY: 'k' };
  it('tells the device side by DEVICE:/path (device ids may hold colons)', () => {
    assert.deepEqual(remoteSpec('dev-1:/tmp/x'), { deviceId: 'dev-1', path: '/tmp/x' });
    assert.deepEqual(remoteSpec('site:7:/tmp/x'), { deviceId: 'site:7', path: '/tmp/x' });
    assert.equal(remoteSpec('./local:file'), null);
    assert.equal(remoteSpec('/abs/local'), null);
    assert.equal(remoteSpec('dev-1:relative'), null);
  });
  it('parses an upload with --mode and a download, and refuses what is ambiguous', () => {
    const up = parseCpArgs(['--mode', '755', 'f', 'dev-1:/srv/'], env);
    assert.equal(up.direction, 'upload');
    assert.equal(up.mode, 0o755);
    assert.equal(up.hubUrl, 'ws://hub:8080/v1/stream');
    const down = parseCpArgs(['dev-1:/srv/f', '.'], env);
    assert.equal(down.direction, 'download');
    assert.equal(down.localPath, '.');
    assert.throws(() => parseCpArgs(['a', 'b'], env), /exactly one of the two/);
    assert.throws(() => parseCpArgs(['d:/a', 'd:/b'], env), /exactly one of the two/);
    assert.throws(() => parseCpArgs(['--mode', '999', 'f', 'd:/x'], env), /octal/);
    assert.throws(() => parseCpArgs(['--mode', '644', 'd:/x', 'f'], env), /for uploads/);
    assert.throws(() => parseCpArgs(['f', 'd:/x'], {}), /IOTTLY_HUB_URL/);
  });
  it('backs off 0.5 s doubling to 8 s', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 9].map(retryDelayMs),
      [500, 1000, 2000, 4000, 8000, 8000, 8000],
    );
  });
});
