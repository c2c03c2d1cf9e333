import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { binaryName, TARGETS } from '../../scripts/binaries/targets.js';
import { AGENT_VERSION } from '../../src/version.js';
import { RELEASE_DIR } from '../../scripts/release/release-dir.js';
import { debPath, run } from '../helpers/deb-package.js';
import { idIn, makeFakeRoot } from '../helpers/fake-root.js';

/**
 * The .debs from `npm run build:deb`: their fields and files, then the real dpkg installing,
 * upgrading, removing and purging one in a temporary root (`dpkg --root` with the maintainer
 * scripts run against DPKG_ROOT, as dpkg supports). Booting systemd on it is nspawn-boot.test.ts.
 */
const PACKAGING = new URL('../../packaging/deb/', import.meta.url).pathname;
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

describe('the .deb packages', () => {
  for (const target of TARGETS) {
    it(`${target.debianArch}: control fields, files with their modes, conffile, scripts`, () => {
      const deb = debPath(target.debianArch);
      assert.ok(existsSync(deb), `${deb} is missing: run npm run build:deb first`);
      const field = (name: string): string => run('dpkg-deb', ['-f', deb, name]).stdout.trim();
      assert.equal(field('Package'), 'iottly-agent');
      assert.equal(field('Version'), AGENT_VERSION);
      assert.equal(field('Architecture'), target.debianArch);
      for (const dependency of ['libc6 (>= 2.28)', 'passwd', 'systemd', ...target.debianDepends]) {
        assert.ok(field('Depends').split(', ').includes(dependency), dependency);
      }

      const listing = run('dpkg-deb', ['-c', deb]).stdout;
      const entry = (path: string): string =>
        listing.split('\n').find((line) => line.endsWith(` ./${path}`)) ?? `(no ${path})`;
      assert.match(entry('usr/bin/iottly-agent'), /^-rwxr-xr-x root\/root/);
      assert.match(entry('lib/systemd/system/iottly-agent.service'), /^-rw-r--r-- root\/root/);
      assert.match(entry('etc/iottly-agent/config.json'), /^-rw-r----- root\/root/);
      assert.match(entry('etc/iottly-agent/'), /^drwxr-x--- root\/root/);
      assert.match(entry('usr/share/doc/iottly-agent/hardening-strict.conf'), /^-rw-r--r--/);
      assert.match(
        entry('usr/lib/iottly-agent/iottly-agent-update-guard'),
        /^-rwxr-xr-x root\/root/,
      );
      assert.match(listing.split('\n')[0] ?? '', /^drwxr-xr-x root\/root .* \.\/$/);

      const binary = readFileSync(join(RELEASE_DIR, binaryName(target)));
      const inside = run('sh', [
        '-c',
        `dpkg-deb --fsys-tarfile '${deb}' | tar -xO ./usr/bin/iottly-agent | sha256sum`,
      ]);
      assert.equal(inside.stdout.split(' ')[0], sha256(binary), 'the binary of build:binaries');

      const control = run('sh', ['-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xO ./conffiles`]);
      assert.equal(control.stdout, '/etc/iottly-agent/config.json\n');
      for (const script of ['postinst', 'prerm', 'postrm']) {
        const packed = run('sh', ['-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xO ./${script}`]);
        assert.equal(packed.stdout, readFileSync(join(PACKAGING, script), 'utf8'), script);
      }
    });
  }

  describe('installed by dpkg into a temporary root', () => {
    const root = makeFakeRoot('dpkg-root-');
    after(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(join(root, 'var/lib/dpkg/info'), { recursive: true });
    mkdirSync(join(root, 'var/lib/dpkg/updates'), { recursive: true });
    writeFileSync(join(root, 'var/lib/dpkg/status'), '');
    writeFileSync(join(root, 'var/lib/dpkg/available'), '');
    // The dependencies are those of a Debian system, not of this empty root.
    const dpkg = (...args: string[]) =>
      run('dpkg', [
        `--root=${root}`,
        '--force-script-chrootless',
        '--force-depends',
        '--log=/dev/null',
        ...args,
      ]);
    const deb = debPath('amd64');

    it('postinst creates the iottly user, makes the config root:iottly 0640 and enables the unit', () => {
      const installed = dpkg('-i', deb);
      assert.equal(installed.code, 0, installed.stderr);
      const gid = idIn(root, 'group', 'iottly');
      assert.ok(gid !== undefined && (idIn(root, 'passwd', 'iottly') ?? 1000) < 1000);
      const config = join(root, 'etc/iottly-agent/config.json');
      assert.equal(statSync(config).mode & 0o777, 0o640);
      assert.equal(statSync(config).gid, gid);
      assert.equal(statSync(join(root, 'etc/iottly-agent')).mode & 0o777, 0o750);
      const wants = join(root, 'etc/systemd/system/multi-user.target.wants/iottly-agent.service');
      assert.equal(readlinkSync(wants), '/lib/systemd/system/iottly-agent.service');
      assert.equal(statSync(join(root, 'usr/bin/iottly-agent')).mode & 0o777, 0o755);
    });

    it('an upgrade keeps the operator’s config and the user', () => {
      const config = join(root, 'etc/iottly-agent/config.json');
      const edited =
        '{"server":{"url":"wss://hub/v1/device"},"device":{"id":"d"},"auth":{"token":"t"}}\n';
      writeFileSync(config, edited);
      const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
      const again = dpkg('-i', deb);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(readFileSync(config, 'utf8'), edited);
      assert.equal(statSync(config).mode & 0o777, 0o640);
      assert.equal(readFileSync(join(root, 'etc/passwd'), 'utf8'), passwd);
    });

    it('remove keeps config and spool; purge deletes them', () => {
      const spool = join(root, 'var/lib/iottly-agent');
      mkdirSync(spool, { recursive: true });
      writeFileSync(join(spool, 'queue'), 'x');
      assert.equal(dpkg('--remove', 'iottly-agent').code, 0);
      assert.ok(!existsSync(join(root, 'usr/bin/iottly-agent')));
      assert.throws(() =>
        lstatSync(join(root, 'etc/systemd/system/multi-user.target.wants/iottly-agent.service')),
      );
      assert.ok(existsSync(join(root, 'etc/iottly-agent/config.json')));
      assert.ok(existsSync(join(spool, 'queue')));
      assert.equal(dpkg('--purge', 'iottly-agent').code, 0);
      assert.ok(!existsSync(join(root, 'etc/iottly-agent/config.json')));
      assert.ok(!existsSync(spool));
    });
  });
});
