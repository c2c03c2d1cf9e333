/**
 * `npm run bench:files` (and `npm run bench -- --only files`): `iottly-agent cp` each way beside
 * `scp` over loopback, measured in the same run on the same file.
 *
 *   ours   `iottly-agent cp` as a process → hub process → agent process (files.enabled, one
 *          allowPaths root): MB/s, and the agent's CPU seconds per 100 MB from /proc/PID/stat
 *   peer   `scp -O` (the scp protocol: the private sshd has no sftp subsystem) over a
 *          ControlMaster connection to a private sshd (bench/lib/sshd-peer.ts):
 *          MB/s, and the CPU of sshd's side per 100 MB (its session processes and the
 *          remote scp each copy starts, sampled while it runs since it exits with the copy)
 *   floor  the design's: the file through the bare two-hop ws relay (three Node processes, two
 *          WebSocket hops, binary frames, push-back; bench/lib/two-hop-relay.ts), MB/s and each
 *          process's CPU per 100 MB (the sender is the agent's place on a download, the
 *          receiver on an upload); and a local copy of the file (fs.copyFile) as a note
 *
 * The file is random bytes (BENCH_FILE_MIB, 100 MiB by default) in a temporary folder; both
 * tools write it to disk on the other side, and cp also hashes it at both ends (sha256).
 * ssh needs `sshd` (apt-get install openssh-server); without it the peer is "skipped".
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH, statusIs } from '../test/helpers/agent-process.js';
import { API_KEY, DEVICE_ID, DEVICE_TOKEN } from '../test/helpers/ws.js';
import { spawnBenchAgent } from './lib/bench-agent.js';
import { startHubProcess } from './lib/hub-process.js';
import { cpuSeconds, descendantsOf } from './lib/proc-stats.js';
import { reportRows, type BenchRow } from './lib/results.js';
import { startSshd, type Sshd } from './lib/sshd-peer.js';
import { twoHopRelayThroughput } from './lib/two-hop-relay.js';

const FILE_BYTES = Number(process.env.BENCH_FILE_MIB ?? 100) * 1024 * 1024;
const MB = 1e6;
const work = mkdtempSync(join(tmpdir(), 'bench-files-'));
const per100 = (cpuS: number): number => (cpuS / (FILE_BYTES / MB)) * 100;

interface Figures {
  mbps: number;
  cpuPer100: number;
}

function makeRandomFile(path: string): void {
  const fd = openSync(path, 'w');
  for (let at = 0; at < FILE_BYTES; at += 1 << 20)
    writeSync(fd, randomBytes(Math.min(1 << 20, FILE_BYTES - at)));
  closeSync(fd);
}

/** Runs a command to its end; its wall time in seconds. */
async function timed(command: string, args: string[], env = process.env): Promise<number> {
  const t = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  const [code] = (await once(child, 'close')) as [number];
  if (code !== 0) throw new Error(`${command} ${args.slice(-2).join(' ')}: exit ${code}`);
  return (performance.now() - t) / 1000;
}

/** CPU of sshd's side during `run`: every descendant's last seen figure, sampled every 20 ms. */
async function withSshdCpu(sshd: Sshd, run: () => Promise<number>): Promise<Figures> {
  const last = new Map<number, number>();
  const sample = (): void => {
    for (const pid of [sshd.pid, ...descendantsOf(sshd.pid)]) {
      try {
        last.set(pid, cpuSeconds(pid));
      } catch {
        // ended between the listing and the read: its last sample stands
      }
    }
  };
  sample();
  const before = new Map(last);
  const timer = setInterval(sample, 20);
  const seconds = await run();
  clearInterval(timer);
  sample();
  let cpu = 0;
  for (const [pid, value] of last) cpu += value - (before.get(pid) ?? 0);
  return { mbps: FILE_BYTES / MB / seconds, cpuPer100: per100(cpu) };
}

async function main(): Promise<void> {
  const local = join(work, 'file.bin');
  const device = join(work, 'device');
  mkdirSync(device);
  makeRandomFile(local);
  const hub = await startHubProcess(new Map([[DEVICE_ID, DEVICE_TOKEN]]), API_KEY);
  const agent = spawnBenchAgent(hub, {
    IOTTLY_FILES_ENABLED: 'true',
    IOTTLY_FILES_ALLOW_PATHS: device,
  });
  const sshd = await startSshd(work);
  try {
    await agent.waitForLog(statusIs('online'));
    const pid = agent.child.pid as number;
    const env = { ...process.env, IOTTLY_HUB_URL: hub.httpUrl, IOTTLY_API_KEY: API_KEY };
    console.log(`node ${process.version}, ${FILE_BYTES / 1048576} MiB of random bytes\n`);

    const t = performance.now();
    copyFileSync(local, join(work, 'floor.bin'));
    const floorMbps = FILE_BYTES / MB / ((performance.now() - t) / 1000);
    const relay = await twoHopRelayThroughput(local, FILE_BYTES);

    const cp = async (args: string[]): Promise<Figures> => {
      const cpu0 = cpuSeconds(pid);
      const seconds = await timed(process.execPath, [CLI_PATH, 'cp', ...args], env);
      return { mbps: FILE_BYTES / MB / seconds, cpuPer100: per100(cpuSeconds(pid) - cpu0) };
    };
    const up = await cp([local, `${DEVICE_ID}:${device}/up.bin`]);
    const down = await cp([`${DEVICE_ID}:${device}/up.bin`, join(work, 'down.bin')]);
    if (statSync(join(work, 'down.bin')).size !== FILE_BYTES) throw new Error('cp: short file');

    let scpUp: Figures | null = null;
    let scpDown: Figures | null = null;
    if (sshd) {
      // ssh's arguments as scp takes them: -P for the port, the host before each path.
      const host = sshd.args.at(-1) as string;
      const options = sshd.args.slice(0, -1).map((arg) => (arg === '-p' ? '-P' : arg));
      scpUp = await withSshdCpu(sshd, () =>
        timed('scp', ['-q', '-O', ...options, local, `${host}:${join(device, 'scp-up.bin')}`]),
      );
      scpDown = await withSshdCpu(sshd, () =>
        timed('scp', [
          '-q',
          '-O',
          ...options,
          `${host}:${join(device, 'scp-up.bin')}`,
          join(work, 'scp-down.bin'),
        ]),
      );
    }

    const line = (name: string, value: string, note = ''): void =>
      console.log(`${name.padEnd(52)} ${value.padStart(12)}  ${note}`);
    const show = (what: string, ours: Figures, peer: Figures | null): void => {
      line(
        `${what}: iottly-agent cp`,
        `${ours.mbps.toFixed(0)} MB/s`,
        `agent CPU ${ours.cpuPer100.toFixed(2)} s / 100 MB`,
      );
      line(
        `${what}: scp over ControlMaster`,
        peer ? `${peer.mbps.toFixed(0)} MB/s` : 'skipped (no sshd)',
        peer
          ? `sshd side CPU ${peer.cpuPer100.toFixed(2)} s / 100 MB   cp/scp ${(ours.mbps / peer.mbps).toFixed(2)}`
          : '',
      );
    };
    show('upload', up, scpUp);
    show('download', down, scpDown);
    line(
      'floor: bare two-hop ws relay, three Node processes',
      `${relay.mbps.toFixed(0)} MB/s`,
      `up/floor ${(up.mbps / relay.mbps).toFixed(2)}   down/floor ${(down.mbps / relay.mbps).toFixed(2)}`,
    );
    line(
      '  CPU s/100 MB: sender, relay, receiver',
      `${relay.senderCpuPer100.toFixed(2)}, ${relay.relayCpuPer100.toFixed(2)}, ${relay.receiverCpuPer100.toFixed(2)}`,
      `agent/floor up ${(up.cpuPer100 / relay.receiverCpuPer100).toFixed(2)}   down ${(down.cpuPer100 / relay.senderCpuPer100).toFixed(2)}`,
    );
    line('local copy (copyFile)', `${floorMbps.toFixed(0)} MB/s`);

    const peerOf = (figures: Figures | null, pick: (f: Figures) => number) =>
      figures
        ? { name: 'scp over ControlMaster (sshd side for CPU)', value: pick(figures) }
        : { name: 'scp over ControlMaster', value: null, note: 'openssh-server not installed' };
    const rows: BenchRow[] = [];
    for (const [what, ours, peer] of [
      ['upload', up, scpUp],
      ['download', down, scpDown],
    ] as const) {
      rows.push(
        {
          figure: `cp ${what} throughput`,
          unit: 'MB/s',
          better: 'higher',
          ours: ours.mbps,
          floor: relay.mbps,
          floorName: 'bare two-hop ws relay, three Node processes',
          peer: peerOf(peer, (f) => f.mbps),
          note: `goal ≥ scp's; local copyFile: ${floorMbps.toFixed(0)} MB/s`,
        },
        {
          figure: `cp ${what}: agent CPU per 100 MB`,
          unit: 's',
          better: 'lower',
          ours: ours.cpuPer100,
          floor: what === 'upload' ? relay.receiverCpuPer100 : relay.senderCpuPer100,
          floorName:
            what === 'upload'
              ? "the bare relay's receiver (ws → pipe)"
              : "the bare relay's sender (file → ws)",
          peer: peerOf(peer, (f) => f.cpuPer100),
          note: `goal ≤ 2× sshd's; relay CPU per 100 MB: sender ${relay.senderCpuPer100.toFixed(2)}, relay ${relay.relayCpuPer100.toFixed(2)}, receiver ${relay.receiverCpuPer100.toFixed(2)} s`,
        },
      );
    }
    reportRows(rows);
  } finally {
    sshd?.stop();
    await agent.kill('SIGTERM');
    await hub.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
