import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { idIn, makeFakeRoot } from '../helpers/fake-root.js';

/**
 * scripts/install.sh run for real (as root) into a temporary root: the user, the binary for the
 * machine, the unit, the config with its owner and mode, idempotence, uninstall and purge. The
 * "binary" is a stand-in; the real ones are exercised by npm run test:binaries.
 */
const REPO = new URL('../../', import.meta.url).pathname;
const INSTALL = join(REPO, 'scripts', 'install.sh');
const TOKEN = 'tok-install-Secret.1';

function makeRelease(names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'release-'));
  const sums: string[] = [];
  for (const name of names) {
    const content = `#!/bin/sh\necho "${name}"\n`;
    writeFileSync(join(dir, name), content, { mode: 0o755 });
    sums.push(`${createHash('sha256').update(content).digest('hex')}  ${name}`);
  }
  writeFileSync(join(dir, 'SHA256SUMS'), `${sums.join('\n')}\n`);
  copyFileSync(join(REPO, 'systemd', 'iottly-agent.service'), join(dir, 'iottly-agent.service'));
  copyFileSync(
    join(REPO, 'systemd', 'iottly-agent-update-guard'),
    join(dir, 'iottly-agent-update-guard'),
  );
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  copyFileSync(INSTALL, join(dir, 'install.sh'));
  return dir;
}

/** Runs the copy of install.sh inside the release directory, as an operator would. */
function install(release: string, args: string[]): { code: number | null; out: string } {
  const result = spawnSync('sh', [join(release, 'install.sh'), ...args], { encoding: 'utf8' });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

const mode = (path: string): string => (statSync(path).mode & 0o7777).toString(8);

/** Every path under `dir` with its content (files) or `dir/` (folders): to see that nothing changed. */
function tree(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = join(prefix, entry.name);
    if (entry.isDirectory()) return [`${path}/`, ...tree(dir, path)];
    if (entry.isSymbolicLink()) return [`${path} -> ${readlinkSync(join(dir, path))}`];
    return [`${path}: ${readFileSync(join(dir, path), 'utf8')}`];
  });
}

describe('scripts/install.sh into a temporary root', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const fresh = (names = ['iottly-agent-linux-arm64']) => {
    const root = makeFakeRoot();
    const release = makeRelease(names);
    dirs.push(root, release);
    const configure = [
      '--url',
      'wss://hub.example.com/v1/device',
      '--device-id',
      'pi-001',
      '--token-file',
      join(release, 'token'),
    ];
    const run = (args: string[]) => install(release, ['--root', root, ...args]);
    return { root, release, configure, run };
  };

  it('installs the user, the binary for the machine, the unit and a 0640 root:iottly config, and enables the unit', () => {
    const { root, configure, run } = fresh();
    const result = run([...configure, '--machine', 'aarch64']);
    assert.equal(result.code, 0, result.out);
    assert.match(result.out, /checked iottly-agent-linux-arm64 against SHA256SUMS/);
    assert.match(result.out, /systemd is not running here, so nothing was started/);

    const uid = idIn(root, 'passwd', 'iottly');
    const gid = idIn(root, 'group', 'iottly');
    assert.ok(uid !== undefined && uid < 1000, 'a system user');
    assert.match(
      readFileSync(join(root, 'etc/passwd'), 'utf8'),
      /^iottly:x:\d+:\d+:Iottly edge agent:\/var\/lib\/iottly-agent:\/usr\/sbin\/nologin$/m,
    );

    const binary = join(root, 'usr/local/lib/iottly-agent/iottly-agent');
    assert.equal(readFileSync(binary, 'utf8'), '#!/bin/sh\necho "iottly-agent-linux-arm64"\n');
    assert.equal(mode(binary), '755');
    // The agent's own folder and binary (it updates itself there); the command links to it.
    assert.equal(statSync(binary).uid, uid);
    assert.equal(statSync(join(root, 'usr/local/lib/iottly-agent')).uid, uid);
    assert.equal(
      readlinkSync(join(root, 'usr/local/bin/iottly-agent')),
      '../lib/iottly-agent/iottly-agent',
    );
    const guard = join(root, 'usr/local/lib/iottly-agent-update-guard');
    assert.equal(mode(guard), '755');
    assert.equal(statSync(guard).uid, 0);

    const unit = readFileSync(join(root, 'etc/systemd/system/iottly-agent.service'), 'utf8');
    assert.match(
      unit,
      /^ExecStart=\/usr\/local\/lib\/iottly-agent\/iottly-agent run --config \/etc\/iottly-agent\/config.json$/m,
    );
    assert.match(
      unit,
      /^ExecStartPre=-\/bin\/sh \/usr\/local\/lib\/iottly-agent-update-guard \/usr\/local\/lib\/iottly-agent\/iottly-agent$/m,
    );
    const wants = join(root, 'etc/systemd/system/multi-user.target.wants/iottly-agent.service');
    assert.ok(lstatSync(wants).isSymbolicLink());
    assert.equal(readlinkSync(wants), '/etc/systemd/system/iottly-agent.service');

    const config = join(root, 'etc/iottly-agent/config.json');
    assert.deepEqual(JSON.parse(readFileSync(config, 'utf8')), {
      server: { url: 'wss://hub.example.com/v1/device' },
      device: { id: 'pi-001' },
      auth: { token: TOKEN },
    });
    assert.equal(mode(config), '640');
    assert.equal(statSync(config).uid, 0);
    assert.equal(statSync(config).gid, gid);
    assert.equal(mode(join(root, 'etc/iottly-agent')), '750');
  });

  it('is idempotent: a second run changes nothing; a run without options keeps the config', () => {
    const { root, configure, run } = fresh();
    assert.equal(run([...configure, '--machine', 'arm64']).code, 0);
    const files = [
      'usr/local/bin/iottly-agent',
      'etc/systemd/system/iottly-agent.service',
      'etc/iottly-agent/config.json',
      'etc/passwd',
      'etc/group',
    ].map((f) => join(root, f));
    const snapshot = () => files.map((f) => [readFileSync(f, 'utf8'), statSync(f).mtimeMs]);
    const before = snapshot();
    const again = run([...configure, '--machine', 'arm64']);
    assert.equal(again.code, 0, again.out);
    assert.doesNotMatch(again.out, /installed|created/);
    assert.deepEqual(snapshot(), before);
    const upgrade = run(['--machine', 'arm64']);
    assert.equal(upgrade.code, 0, upgrade.out);
    assert.match(upgrade.out, /kept \/etc\/iottly-agent\/config.json/);
    assert.deepEqual(snapshot(), before);
  });

  it('picks the binary by machine, refusing ARMv6, unknown machines and a missing binary', () => {
    const names = [
      'iottly-agent-linux-x64',
      'iottly-agent-linux-arm64',
      'iottly-agent-linux-armv7l',
    ];
    for (const [machine, name] of [
      ['x86_64', 'iottly-agent-linux-x64'],
      ['aarch64', 'iottly-agent-linux-arm64'],
      ['armv7l', 'iottly-agent-linux-armv7l'],
      ['armv8l', 'iottly-agent-linux-armv7l'],
    ] as const) {
      const { root, configure, run } = fresh(names);
      const result = run([...configure, '--machine', machine]);
      assert.equal(result.code, 0, result.out);
      const installed = readFileSync(join(root, 'usr/local/bin/iottly-agent'), 'utf8');
      assert.ok(installed.includes(`"${name}"`), `${machine}: ${installed}`);
    }
    const { configure, run } = fresh(names);
    const armv6 = run([...configure, '--machine', 'armv6l']);
    assert.notEqual(armv6.code, 0);
    assert.match(armv6.out, /ARMv6 \(Raspberry Pi 1 and Zero\) is not supported/);
    assert.match(
      run([...configure, '--machine', 'mips']).out,
      /no iottly-agent binary for machine 'mips'/,
    );
    const onlyX64 = fresh(['iottly-agent-linux-x64']);
    const missing = onlyX64.run([...onlyX64.configure, '--machine', 'aarch64']);
    assert.notEqual(missing.code, 0);
    assert.match(
      missing.out,
      /cannot find iottly-agent-linux-arm64 or iottly-agent-linux-arm64.xz/,
    );
  });

  it('refuses a damaged download and bad values with a clear message, installing nothing', () => {
    const { root, release, configure, run } = fresh();
    writeFileSync(join(release, 'iottly-agent-linux-arm64'), 'tampered', { mode: 0o755 });
    const damaged = run([...configure, '--machine', 'aarch64']);
    assert.equal(damaged.code, 1);
    assert.match(damaged.out, /does not match its SHA256SUMS line/);
    assert.ok(!existsSync(join(root, 'usr/local/bin/iottly-agent')));

    const ok = fresh();
    const url = 'wss://hub.example.com/v1/device';
    const cases: [string[], number, RegExp][] = [
      [['--url', url, '--device-id', 'pi 1', '--token', 't'], 78, /--device-id must be 1-128/],
      [['--url', 'https://h/v1', '--device-id', 'd', '--token', 't'], 78, /--url must start with/],
      [['--url', url, '--device-id', 'd', '--token', 'a"b'], 78, /--token must not contain quotes/],
      [['--url', url, '--device-id', 'd'], 64, /--token or --token-file is required/],
      [['--device-id', 'd', '--token', 't'], 64, /--url is required/],
      [[...ok.configure, '--token', 't'], 64, /give --token or --token-file, not both/],
      [['--bogus'], 64, /unknown option '--bogus'/],
      [['--purge'], 64, /--purge goes with --uninstall/],
      [[], 64, /the first install needs --url, --device-id and --token-file/],
    ];
    const untouched = tree(ok.root);
    for (const [args, code, message] of cases) {
      const result = ok.run([...args, '--machine', 'aarch64']);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.out}`);
      assert.match(result.out, message);
      // Every check runs before anything is made: no user, no folder, no file.
      assert.deepEqual(tree(ok.root), untouched, args.join(' '));
    }
  });

  it('checks everything before changing anything: an empty --root stays empty', () => {
    const release = makeRelease(['iottly-agent-linux-x64']);
    const empty = mkdtempSync(join(tmpdir(), 'root-empty-'));
    dirs.push(release, empty);
    const args = ['--url', 'wss://h/v1/device', '--device-id', 'd', '--token', 't'];
    const missing = install(release, ['--root', empty, ...args, '--machine', 'aarch64']);
    assert.equal(missing.code, 1, missing.out);
    assert.match(
      missing.out,
      /cannot find iottly-agent-linux-arm64 or iottly-agent-linux-arm64.xz/,
    );
    assert.deepEqual(readdirSync(empty), []);

    // The binary is there, but the root has no account files for groupadd/useradd --prefix.
    const noAccounts = install(release, ['--root', empty, ...args, '--machine', 'x86_64']);
    assert.equal(noAccounts.code, 1, noAccounts.out);
    const errors = noAccounts.out.split('\n').filter((line) => line.includes('error:'));
    assert.equal(errors.length, 1, noAccounts.out);
    assert.match(errors[0] ?? '', /--root \S+ has no etc\/passwd and etc\/group/);
    assert.deepEqual(readdirSync(empty), []);

    const damaged = fresh();
    writeFileSync(join(damaged.release, 'iottly-agent-linux-arm64'), 'tampered', { mode: 0o755 });
    const before = tree(damaged.root);
    assert.equal(damaged.run([...damaged.configure, '--machine', 'aarch64']).code, 1);
    assert.deepEqual(tree(damaged.root), before, 'no user and no folder for a damaged download');
  });

  it('--uninstall keeps config, spool and user; --purge removes them', () => {
    const { root, configure, run } = fresh();
    assert.equal(run([...configure, '--machine', 'aarch64']).code, 0);
    const state = join(root, 'var/lib/iottly-agent');
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, 'spool.db'), 'queued');

    const removed = run(['--uninstall']);
    assert.equal(removed.code, 0, removed.out);
    assert.match(
      removed.out,
      /kept \/etc\/iottly-agent, \/var\/lib\/iottly-agent and the iottly user/,
    );
    for (const gone of [
      'usr/local/bin/iottly-agent',
      'usr/local/lib/iottly-agent',
      'usr/local/lib/iottly-agent-update-guard',
      'etc/systemd/system/iottly-agent.service',
      'etc/systemd/system/multi-user.target.wants/iottly-agent.service',
    ]) {
      assert.ok(!existsSync(join(root, gone)), gone);
    }
    assert.ok(existsSync(join(root, 'etc/iottly-agent/config.json')));
    assert.equal(readFileSync(join(state, 'spool.db'), 'utf8'), 'queued');
    assert.ok(idIn(root, 'passwd', 'iottly') !== undefined);
    assert.equal(run(['--uninstall']).code, 0, 'uninstalling twice is fine');

    const purged = run(['--uninstall', '--purge']);
    assert.equal(purged.code, 0, purged.out);
    assert.ok(!existsSync(join(root, 'etc/iottly-agent')));
    assert.ok(!existsSync(state));
    assert.equal(idIn(root, 'passwd', 'iottly'), undefined);
    assert.equal(idIn(root, 'group', 'iottly'), undefined);
  });
});
