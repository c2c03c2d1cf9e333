import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { build } from 'esbuild';
import { baseBinary, defaultCacheDir } from '../../scripts/binaries/base-binary.js';
import { BUNDLE_NODE_TARGET } from '../../scripts/binaries/bundle.js';
import { inject, makeBlob, strip } from '../../scripts/binaries/sea.js';
import { TARGETS } from '../../scripts/binaries/targets.js';
import { RELEASE_DIR } from '../../scripts/release/release-dir.js';
import { publicKeyText } from '../../src/protocol/update-signature.js';
import { run } from '../helpers/deb-package.js';
import { startFakeHub } from '../helpers/fake-hub.js';
import { tempDir } from '../helpers/temp-dir.js';
import { anyFrame, helloOf, payloadOf, pushUpdate } from '../helpers/update-client.js';
import { AGENT_VERSION } from '../../src/version.js';

/**
 * Agent updates under the real systemd: the x64 binary installed by scripts/install.sh (--root
 * into a Debian 12 tree, the debootstrap root nspawn-boot.test.ts caches), booted in
 * systemd-nspawn, a hub on this host. First a newer single executable (the same agent, version
 * 99.0.0, built here): swapped in, restarted by systemd, online as 99.0.0 with the same spool,
 * update_result ok. Then a signed build that exits at start: systemd restarts it
 * (Restart=always), the unit's ExecStartPre guard counts the starts and restores 99.0.0, which
 * reports update_result crashed. (A .deb agent refuses updates.)
 */
const TOKEN = 'tok-nspawn-up';
const BOOT_TIMEOUT_MS = 300_000;
const BINARY = join(RELEASE_DIR, 'iottly-agent-linux-x64');
const INSTALL = new URL('../../scripts/install.sh', import.meta.url).pathname;

/**
 * The Debian 12 root nspawn-boot.test.ts caches, when it is there; else one of this file's own
 * (the two files may run at once on a cold cache, and must not debootstrap into one folder).
 */
function debianRoot(): string {
  const cache = dirname(defaultCacheDir());
  const shared = join(cache, 'debootstrap-bookworm');
  if (existsSync(join(shared, '.complete'))) return shared;
  const own = join(cache, 'debootstrap-bookworm-update');
  if (existsSync(join(own, '.complete'))) return own;
  const partial = `${own}.partial`;
  rmSync(partial, { recursive: true, force: true });
  const made = run('debootstrap', [
    '--variant=minbase',
    '--include=systemd,systemd-sysv,dbus,libstdc++6',
    'bookworm',
    partial,
    'http://deb.debian.org/debian',
  ]);
  assert.equal(made.code, 0, `debootstrap failed:\n${made.stderr.slice(-2000)}`);
  writeFileSync(join(partial, '.complete'), '');
  renameSync(partial, own);
  return own;
}

/** Waits for /update-done (the test writes it), then saves the agent's journal and powers off. */
const REPORT_UNIT = `[Unit]
Description=Report on iottly-agent for the update test, then power off
After=iottly-agent.service
[Service]
Type=oneshot
TimeoutStartSec=infinity
ExecStart=/bin/sh -c 'while [ ! -e /update-done ]; do sleep 1; done; systemctl show -p NRestarts -p ActiveState iottly-agent > /report.txt; journalctl -u iottly-agent --no-pager -o cat > /journal.txt; systemctl poweroff'
[Install]
WantedBy=multi-user.target
`;

/**
 * The x64 binary again with another version: the same bundle but src/version.ts, made into a
 * single executable as build:binaries makes one (no console assets, no xz).
 */
async function newerBinary(version: string, work: string): Promise<string> {
  const target = TARGETS.find((candidate) => candidate.name === 'linux-x64');
  assert.ok(target);
  const versionFile = new URL('../../src/version.ts', import.meta.url).pathname;
  const bundle = join(work, 'agent.cjs');
  await build({
    entryPoints: [new URL('../../src/cli.ts', import.meta.url).pathname],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: BUNDLE_NODE_TARGET,
    external: ['bufferutil', 'utf-8-validate'],
    logLevel: 'error',
    logOverride: { 'empty-import-meta': 'silent' },
    plugins: [
      {
        name: 'version',
        setup(b) {
          b.onLoad({ filter: /version\.ts$/ }, (args) =>
            args.path === versionFile
              ? { contents: `export const AGENT_VERSION = '${version}';`, loader: 'ts' }
              : undefined,
          );
        },
      },
    ],
  });
  const node = await baseBinary(target, defaultCacheDir());
  const blob = makeBlob(target, node, bundle, work, { useCodeCache: false });
  const binary = join(work, 'iottly-agent-linux-x64');
  strip(node, binary);
  inject(binary, blob);
  return binary;
}

describe('agent updates under systemd (install.sh layout, systemd-nspawn)', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it(
    'updates to a newer build that comes online with the spool kept, then rolls back one that exits at start',
    { timeout: 400_000 },
    async (t) => {
      assert.ok(existsSync(BINARY), `${BINARY} is missing: run npm run build:binaries first`);
      const base = debianRoot();
      const root = `${base}.update-${process.pid}`;
      rmSync(root, { recursive: true, force: true });
      assert.equal(run('cp', ['-a', base, root]).code, 0);
      cleanups.push(() => rmSync(root, { recursive: true, force: true }));

      const hub = await startFakeHub(t);
      const tokenFile = join(tempDir('iottly-nspawn-up-'), 'token');
      writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
      const installed = run('sh', [
        INSTALL,
        '--root',
        root,
        '--from',
        RELEASE_DIR,
        '--machine',
        'x86_64',
        '--url',
        hub.url,
        '--device-id',
        'nspawn-up',
        '--token-file',
        tokenFile,
      ]);
      assert.equal(installed.code, 0, installed.stdout + installed.stderr);

      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const dropIn = join(root, 'etc/systemd/system/iottly-agent.service.d');
      mkdirSync(dropIn, { recursive: true });
      writeFileSync(
        join(dropIn, 'test-update.conf'),
        [
          '[Service]',
          `Environment=IOTTLY_UPDATE_PUBLIC_KEYS=${publicKeyText(publicKey)}`,
          'Environment=IOTTLY_UPDATE_MAX_STARTS=2',
          'Environment=IOTTLY_LOG_FORMAT=json',
          'RestartSec=1s',
          '',
        ].join('\n'),
      );
      writeFileSync(join(root, 'etc/systemd/system/report.service'), REPORT_UNIT);
      symlinkSync(
        '/etc/systemd/system/report.service',
        join(root, 'etc/systemd/system/multi-user.target.wants/report.service'),
      );
      const installedBinary = join(root, 'usr/local/lib/iottly-agent/iottly-agent');
      const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
      const before = sha(installedBinary);

      const boot = spawn(
        'systemd-nspawn',
        ['-q', '--register=no', '--keep-unit', '-D', root, '--boot'],
        {
          stdio: 'ignore',
        },
      );
      const timer = setTimeout(() => boot.kill('SIGKILL'), BOOT_TIMEOUT_MS);
      cleanups.push(() => {
        clearTimeout(timer);
        if (boot.exitCode === null) boot.kill('SIGKILL');
      });

      const signingKey = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      const newer = await newerBinary('99.0.0', tempDir('iottly-nspawn-sea-'));
      const { connection, frame: hello } = await anyFrame(hub, helloOf(AGENT_VERSION), 120_000);
      const installedNew = await pushUpdate(connection, 'up-0', {
        bytes: readFileSync(newer),
        version: '99.0.0',
        arch: 'x64',
        signingKey,
      });
      assert.equal(payloadOf(installedNew).exit_code, 0, JSON.stringify(installedNew));
      const { connection: second, frame: newHello } = await anyFrame(
        hub,
        helloOf('99.0.0'),
        120_000,
      );
      assert.equal(payloadOf(newHello).store_id, payloadOf(hello).store_id, 'the spool is kept');
      const { frame: good } = await anyFrame(hub, (f) => f.type === 'update_result', 60_000);
      assert.deepEqual(payloadOf(good), { version: '99.0.0', from: AGENT_VERSION, ok: true });
      const goodSha = sha(installedBinary);
      assert.equal(goodSha, sha(newer));

      const done = await pushUpdate(second, 'up-1', {
        bytes: Buffer.from('#!/bin/sh\necho "this build is broken" >&2\nexit 1\n'),
        version: '99.1.0',
        arch: 'x64',
        signingKey,
      });
      assert.equal(payloadOf(done).exit_code, 0, JSON.stringify(done));
      const { frame: result } = await anyFrame(
        hub,
        (f) => f.type === 'update_result' && payloadOf(f).version === '99.1.0',
        120_000,
      );
      writeFileSync(join(root, 'update-done'), '');
      await once(boot, 'exit');

      const journal = readFileSync(join(root, 'journal.txt'), 'utf8');
      const report = readFileSync(join(root, 'report.txt'), 'utf8');
      t.diagnostic(
        journal
          .split('\n')
          .filter((l) => /update|guard|broken|Main process exited|starting"/.test(l))
          .join('\n'),
      );
      assert.deepEqual(
        { ...payloadOf(result), message: undefined },
        { version: '99.1.0', from: '99.0.0', ok: false, cause: 'crashed', message: undefined },
      );
      assert.equal(sha(installedBinary), goodSha, 'the previous binary (99.0.0) is back');
      assert.notEqual(goodSha, before);
      assert.match(journal, /iottly-agent-update-guard: restored 99\.0\.0 over 99\.1\.0/);
      assert.match(report, /^ActiveState=active$/m, report);
    },
  );
});
