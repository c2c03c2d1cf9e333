import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
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
import { debPath, run } from '../helpers/deb-package.js';
import { startLocalHub } from '../helpers/local-hub.js';

/**
 * The amd64 .deb on a booted Debian 12 with systemd as PID 1, in a systemd-nspawn container:
 * dpkg -i, the operator's config, boot, and the unit must reach active/running with the STATUS
 * the agent sends, survive several watchdog periods (WatchdogSec lowered to 3 s by a drop-in)
 * without a restart, and connect to a hub on this host (the container shares its network).
 * The Debian root is made once with debootstrap from Debian's mirror and cached.
 */
const SUITE = 'bookworm';
const MIRROR = 'http://deb.debian.org/debian';
const TOKEN = 'tok-nspawn';
const BOOT_TIMEOUT_MS = 180_000;

function debianRoot(): string {
  const base = join(dirname(defaultCacheDir()), `debootstrap-${SUITE}`);
  if (existsSync(join(base, '.complete'))) return base;
  const partial = `${base}.partial`;
  rmSync(partial, { recursive: true, force: true });
  const made = run('debootstrap', [
    '--variant=minbase',
    '--include=systemd,systemd-sysv,dbus,libstdc++6',
    SUITE,
    partial,
    MIRROR,
  ]);
  assert.equal(made.code, 0, `debootstrap failed:\n${made.stderr.slice(-2000)}`);
  writeFileSync(join(partial, '.complete'), '');
  rmSync(base, { recursive: true, force: true });
  renameSync(partial, base);
  return base;
}

/** Inside the container, after the agent: waits (bounded) for it to be online, lets three
 * watchdog periods pass, records what systemd says about it, and powers the container off. */
const REPORT_UNIT = `[Unit]
Description=Report on iottly-agent for the test, then power off
After=iottly-agent.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'i=0; while [ $i -lt 60 ] && ! systemctl show -p StatusText --value iottly-agent | grep -q "^online"; do i=$((i+1)); sleep 1; done; sleep 10; systemctl show -p ActiveState -p SubState -p StatusText -p NRestarts -p WatchdogUSec iottly-agent > /report.txt; journalctl -u iottly-agent --no-pager -o cat > /journal.txt; systemctl poweroff'
[Install]
WantedBy=multi-user.target
`;

describe('the .deb under a booted systemd (debootstrap + systemd-nspawn)', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  for (const hardening of ['default', 'strict'] as const) {
    it(`installs, reaches active with the agent’s STATUS, keeps the watchdog fed and connects (${hardening} hardening)`, async (t) => {
      const base = debianRoot();
      const root = `${base}.run-${process.pid}-${hardening}`;
      rmSync(root, { recursive: true, force: true });
      assert.equal(run('cp', ['-a', base, root]).code, 0);
      cleanups.push(() => rmSync(root, { recursive: true, force: true }));
      const nspawn = ['-q', '--register=no', '--keep-unit', '-D', root];

      copyFileSync(debPath('amd64'), join(root, 'var/tmp/iottly-agent.deb'));
      const installed = run('systemd-nspawn', [
        ...nspawn,
        'dpkg',
        '-i',
        '/var/tmp/iottly-agent.deb',
      ]);
      assert.equal(installed.code, 0, installed.stdout + installed.stderr);

      const { deviceUrl } = await startLocalHub(t, 'nspawn-1', TOKEN);
      // Writing into the packaged file keeps its root:iottly 0640.
      writeFileSync(
        join(root, 'etc/iottly-agent/config.json'),
        JSON.stringify({
          server: { url: deviceUrl },
          device: { id: 'nspawn-1' },
          auth: { token: TOKEN },
        }),
      );
      const dropIn = join(root, 'etc/systemd/system/iottly-agent.service.d');
      mkdirSync(dropIn, { recursive: true });
      writeFileSync(join(dropIn, 'test-watchdog.conf'), '[Service]\nWatchdogSec=3s\n');
      if (hardening === 'strict') {
        copyFileSync(
          join(root, 'usr/share/doc/iottly-agent/hardening-strict.conf'),
          join(dropIn, 'hardening-strict.conf'),
        );
      }
      writeFileSync(join(root, 'etc/systemd/system/report.service'), REPORT_UNIT);
      symlinkSync(
        '/etc/systemd/system/report.service',
        join(root, 'etc/systemd/system/multi-user.target.wants/report.service'),
      );

      const boot = spawn('systemd-nspawn', [...nspawn, '--boot'], { stdio: 'ignore' });
      const timer = setTimeout(() => boot.kill('SIGKILL'), BOOT_TIMEOUT_MS);
      cleanups.push(() => {
        clearTimeout(timer);
        if (boot.exitCode === null) boot.kill('SIGKILL');
      });
      await once(boot, 'exit');

      const report = readFileSync(join(root, 'report.txt'), 'utf8');
      const journal = readFileSync(join(root, 'journal.txt'), 'utf8');
      const detail = `${report}\n--- journal ---\n${journal.slice(-3000)}`;
      t.diagnostic(`systemd in the container: ${report.trim().split('\n').join('; ')}`);
      assert.match(report, /^ActiveState=active$/m, detail);
      assert.match(report, /^SubState=running$/m, detail);
      assert.match(report, /^StatusText=online since /m, detail);
      assert.match(report, /^NRestarts=0$/m, detail);
      assert.match(report, /^WatchdogUSec=3s$/m, detail);
      assert.match(journal, /"msg":"connection online since /);
    });
  }
});
