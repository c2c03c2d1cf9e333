import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/browser.js';

/**
 * The ssh peer of the benchmarks: sshd on a loopback port for this run, with two ControlMasters
 * (one whose sessions read the user's rc files, one whose do not), so that a figure of ours
 * stands beside ssh's measured both ways in the same run.
 */
export interface Sshd {
  pid: number;
  /** ssh's arguments up to the remote command. */
  args: string[];
  run(args: string[]): Promise<void>;
  /** The same over a second ControlMaster whose sessions read no rc file. */
  noRc: { args: string[]; run(args: string[]): Promise<void> };
  stop(): void;
}

export async function startSshd(work: string): Promise<Sshd | null> {
  if (!existsSync('/usr/sbin/sshd') || spawnSync('which', ['ssh']).status !== 0) return null;
  const dir = join(work, 'ssh');
  mkdirSync(dir);
  mkdirSync('/run/sshd', { recursive: true });
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user')]);
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'norc')]);
  // The second key's sessions get HOME=<an empty folder>: bash finds no ~/.bashrc to read.
  const emptyHome = join(dir, 'empty-home');
  mkdirSync(emptyHome);
  const keys = join(dir, 'authorized_keys');
  writeFileText(
    keys,
    [
      readFileSync(join(dir, 'user.pub'), 'utf8').trim(),
      `environment="HOME=${emptyHome}" ${readFileSync(join(dir, 'norc.pub'), 'utf8').trim()}`,
    ].join('\n'),
  );
  const port = await freePort();
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host')}`,
    `AuthorizedKeysFile ${keys}`,
    'PermitUserEnvironment yes',
    `PidFile ${join(dir, 'sshd.pid')}`,
    'PermitRootLogin yes',
    'PasswordAuthentication no',
    'UsePAM no',
    'StrictModes no',
  ].join('\n');
  const configPath = join(dir, 'sshd_config');
  writeFileText(configPath, config);
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', configPath], { stdio: 'ignore' });
  const user = process.env.USER ?? 'root';
  const client = (key: string, ctl: string): string[] => [
    '-i',
    join(dir, key),
    '-p',
    String(port),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'ControlMaster=auto',
    '-o',
    `ControlPath=${join(dir, ctl)}`,
    '-o',
    'ControlPersist=120',
    '-o',
    'IdentitiesOnly=yes',
    `${user}@127.0.0.1`,
  ];
  const base = client('user', 'ctl');
  const noRc = client('norc', 'ctl-norc');
  const runWith = async (base: string[], args: string[]): Promise<void> => {
    const child = spawn('ssh', [...base, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    const [code] = (await once(child, 'close')) as [number];
    if (code !== 0) throw new Error(`ssh ${args.join(' ')}: exit ${code}`);
  };
  const run = (args: string[]): Promise<void> => runWith(base, args);
  for (let attempt = 0; ; attempt++) {
    try {
      await run(['true']); // also opens the master connection
      break;
    } catch (err) {
      if (attempt > 50) {
        sshd.kill();
        console.error(`sshd did not come up: ${(err as Error).message}`);
        return null;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await runWith(noRc, ['true']); // the second master
  return {
    pid: sshd.pid as number,
    args: base,
    run,
    noRc: { args: noRc, run: (args) => runWith(noRc, args) },
    stop: () => {
      spawnSync('ssh', [...base, '-O', 'exit']);
      spawnSync('ssh', [...noRc, '-O', 'exit']);
      sshd.kill();
    },
  };
}

function writeFileText(path: string, text: string): void {
  const fd = openSync(path, 'w');
  writeSync(fd, `${text}\n`);
  closeSync(fd);
}
