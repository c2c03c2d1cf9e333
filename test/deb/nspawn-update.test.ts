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
import { defaultCacheDir } from '../../scripts/binaries/base-binary.js';
import { RELEASE_DIR } from '../../scripts/release/release-dir.js';
import { publicKeyText } from '../../src/protocol/update-signature.js';
import { run } from '../helpers/deb-package.js';
import { startFakeHub } from '../helpers/fake-hub.js';
import { tempDir } from '../helpers/temp-dir.js';
import { anyFrame, helloOf, payloadOf, pushUpdate } from '../helpers/update-client.js';
import { AGENT_VERSION } from '../../src/version.js';

/**
 * An update rolled back under the real systemd: the x64 binary installed by scripts/install.sh
 * (--root into a Debian 12 tree, the debootstrap root nspawn-boot.test.ts caches), booted in
 * systemd-nspawn; a hub on this host sends a signed build that exits at start. systemd restarts
 * it (Restart=always), the unit's ExecStartPre guard counts the starts and restores the previous
 * binary, and the old agent reports update_result crashed. (A .deb agent refuses updates.)
 */
const TOKEN = 'tok-nspawn-up';
const BOOT_TIMEOUT_MS = 240_000;
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

describe('an update rolled back under systemd (install.sh layout, systemd-nspawn)', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('restores the previous binary after a build that exits at start, and reports it', async (t) => {
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

    const { connection } = await anyFrame(hub, helloOf(AGENT_VERSION), 120_000);
    const done = await pushUpdate(connection, 'up-1', {
      bytes: Buffer.from('#!/bin/sh\necho "this build is broken" >&2\nexit 1\n'),
      version: '99.0.0',
      arch: 'x64',
      signingKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    });
    assert.equal(payloadOf(done).exit_code, 0, JSON.stringify(done));
    const { frame: result } = await anyFrame(hub, (f) => f.type === 'update_result', 120_000);
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
      { version: '99.0.0', from: AGENT_VERSION, ok: false, cause: 'crashed', message: undefined },
    );
    assert.equal(sha(installedBinary), before, 'the previous binary is back');
    assert.match(journal, /iottly-agent-update-guard: restored 0\.1\.0 over 99\.0\.0/);
    assert.match(report, /^ActiveState=active$/m, report);
  });
});
