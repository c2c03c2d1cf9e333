/**
 * `npm run bench:forward` (or `npm run bench -- --only forward`): TCP port forwarding beside
 * `ssh -L`, measured in the same run on loopback.
 *
 *   ours   `iottly-agent forward DEVICE 0:127.0.0.1:SRC` (a process, as an operator runs it) →
 *          hub → agent → a TCP source on this machine; a client of the local port reads it all
 *   peer   `ssh -L` added to a ControlMaster connection to a private sshd (bench/lib/sshd-peer.ts)
 *   floor  the design's: as many bytes through the bare two-hop ws relay (three Node processes,
 *          two WebSocket hops, binary frames, push-back; bench/lib/two-hop-relay.ts), MB/s and
 *          each process's CPU per 100 MB (the sender is the agent's place); and the source
 *          read directly, no forward at all (for set-up latency, and as a note)
 *
 * Figures: MB/s of one connection reading BENCH_FORWARD_MB (default 128) MiB from the target;
 * connection set-up latency (connect to the local port until the target's first byte, which it
 * sends on accept), p50 and p99 of BENCH_FORWARD_CONNECTS (default 200) connections one after
 * another; the agent's CPU s per 100 MB against sshd's side of the same transfer (issue 16's
 * goal: at least ssh's throughput at no more than twice sshd's CPU).
 *
 * ssh needs `sshd` (apt-get install openssh-server); without it the peer is "skipped".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH, statusIs } from '../test/helpers/agent-process.js';
import { freePort } from '../test/helpers/browser.js';
import { API_KEY, DEVICE_ID, DEVICE_TOKEN } from '../test/helpers/ws.js';
import { spawnBenchAgent } from './lib/bench-agent.js';
import { startHubProcess } from './lib/hub-process.js';
import { cpuSeconds, descendantsOf, percentile } from './lib/proc-stats.js';
import { reportRows } from './lib/results.js';
import { startSshd, type Sshd } from './lib/sshd-peer.js';
import { twoHopRelayThroughput } from './lib/two-hop-relay.js';

const MB = 1_000_000;
const TRANSFER_BYTES = Number(process.env.BENCH_FORWARD_MB ?? 128) * 1024 * 1024;
const CONNECTS = Number(process.env.BENCH_FORWARD_CONNECTS ?? 200);
const work = mkdtempSync(join(tmpdir(), 'bench-forward-'));

/** The target: on accept, one byte (the set-up probe), then TRANSFER_BYTES unless told "1". */
async function startSource(): Promise<{ server: Server; port: number }> {
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write('!');
    socket.once('data', (ask: Buffer) => {
      if (ask.toString() !== 'bulk') return void socket.end();
      let left = TRANSFER_BYTES;
      const pump = (): void => {
        while (left > 0) {
          const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= piece.length;
          if (!socket.write(piece)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

/** Reads TRANSFER_BYTES through `port`; MB/s. */
async function bulk(port: number): Promise<number> {
  const socket = connect({ port, host: '127.0.0.1' });
  let received = 0;
  let started = 0;
  socket.on('data', (chunk: Buffer) => {
    if (received === 0 && started === 0) {
      started = performance.now(); // the probe byte: the tunnel is up, the transfer starts now
      socket.write('bulk');
      received -= 1;
    }
    received += chunk.length;
  });
  await once(socket, 'end');
  const seconds = (performance.now() - started) / 1000;
  socket.destroy();
  if (received !== TRANSFER_BYTES) throw new Error(`bulk through ${port}: ${received} bytes`);
  return TRANSFER_BYTES / MB / seconds;
}

/** Connect until the target's first byte, CONNECTS times one after another; ms each. */
async function setUps(port: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < CONNECTS; i++) {
    const started = performance.now();
    const socket = connect({ port, host: '127.0.0.1' });
    await once(socket, 'data');
    samples.push(performance.now() - started);
    socket.end('x');
    socket.destroy();
  }
  return samples;
}

function sshdCpu(sshd: Sshd): number {
  return descendantsOf(sshd.pid).reduce((sum, pid) => {
    try {
      return sum + cpuSeconds(pid);
    } catch {
      return sum;
    }
  }, 0);
}

async function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

const per100 = (cpuS: number): number => (cpuS / (TRANSFER_BYTES / MB)) * 100;
const p = (samples: number[]): string =>
  `${percentile(samples, 50).toFixed(2)} / ${percentile(samples, 99).toFixed(2)}`;

async function main(): Promise<void> {
  const hub = await startHubProcess(new Map([[DEVICE_ID, DEVICE_TOKEN]]), API_KEY);
  const agent = spawnBenchAgent(hub, { IOTTLY_FORWARD_ENABLED: 'true' });
  const source = await startSource();
  const sshd = await startSshd(work);
  let cli: ChildProcess | null = null;
  try {
    await agent.waitForLog(statusIs('online'));
    const agentPid = agent.child.pid as number;
    console.log(
      `node ${process.version}, ${TRANSFER_BYTES / 1048576} MiB each, ${CONNECTS} connection set-ups\n`,
    );

    const directMbps = await bulk(source.port);
    // The relay floor reads a file: the source's bytes, as many.
    const relayFile = join(work, 'relay.bin');
    const fd = openSync(relayFile, 'w');
    const block = Buffer.alloc(1 << 20, 0x5a);
    for (let at = 0; at < TRANSFER_BYTES; at += block.length)
      writeSync(fd, block, 0, Math.min(block.length, TRANSFER_BYTES - at));
    closeSync(fd);
    const relay = await twoHopRelayThroughput(relayFile, TRANSFER_BYTES);
    rmSync(relayFile);
    const direct = await setUps(source.port);

    cli = spawn(process.execPath, [CLI_PATH, 'forward', DEVICE_ID, `0:127.0.0.1:${source.port}`], {
      env: { ...process.env, IOTTLY_HUB_URL: hub.httpUrl, IOTTLY_API_KEY: API_KEY },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const [line] = (await once(cli.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    const localPort = Number(/:(\d+), forwarding/.exec(line.toString())?.[1]);
    const ours = await setUps(localPort);
    const agentCpu0 = cpuSeconds(agentPid);
    const oursMbps = await bulk(localPort);
    const agentPer100 = per100(cpuSeconds(agentPid) - agentCpu0);

    let ssh: { mbps: number; setUps: number[]; cpuPer100: number } | null = null;
    if (sshd) {
      const sshPort = await freePort();
      const spec = `${sshPort}:127.0.0.1:${source.port}`;
      const added = spawnSync('ssh', [...sshd.args, '-O', 'forward', '-L', spec]);
      if (added.status !== 0) throw new Error(`ssh -O forward: ${added.stderr.toString()}`);
      const sshSetUps = await setUps(sshPort);
      const cpu0 = sshdCpu(sshd);
      const mbps = await bulk(sshPort);
      ssh = { mbps, setUps: sshSetUps, cpuPer100: per100(sshdCpu(sshd) - cpu0) };
      spawnSync('ssh', [...sshd.args, '-O', 'cancel', '-L', spec]);
    }

    const row = (name: string, value: string, note = ''): void =>
      console.log(`${name.padEnd(54)} ${value.padStart(16)}  ${note}`);
    row('throughput, MB/s (target → client)', '');
    row('  iottly-agent forward → hub → agent → target', oursMbps.toFixed(0));
    row('  ssh -L over ControlMaster', ssh ? ssh.mbps.toFixed(0) : 'skipped (no sshd)');
    row(
      '  floor: bare two-hop ws relay, three Node processes',
      relay.mbps.toFixed(0),
      `ours/floor ${(oursMbps / relay.mbps).toFixed(2)}`,
    );
    row('  the target read directly', directMbps.toFixed(0));
    row('connection set-up to first byte, ms p50 / p99', '');
    row('  iottly-agent forward', p(ours));
    row('  ssh -L over ControlMaster', ssh ? p(ssh.setUps) : 'skipped (no sshd)');
    row('  floor: the target directly', p(direct));
    row('CPU s per 100 MB', '');
    row('  agent', agentPer100.toFixed(2));
    row("  sshd's side", ssh ? ssh.cpuPer100.toFixed(2) : 'skipped (no sshd)');
    row(
      '  floor: relay sender, relay, receiver',
      `${relay.senderCpuPer100.toFixed(2)}, ${relay.relayCpuPer100.toFixed(2)}, ${relay.receiverCpuPer100.toFixed(2)}`,
      `agent/sender ${(agentPer100 / relay.senderCpuPer100).toFixed(2)}`,
    );

    const noSsh = { value: null, note: 'openssh-server not installed' };
    reportRows([
      {
        figure: 'forward throughput (target → client)',
        unit: 'MB/s',
        better: 'higher',
        ours: oursMbps,
        floor: relay.mbps,
        floorName: 'bare two-hop ws relay, three Node processes',
        peer: { name: 'ssh -L over ControlMaster', ...(ssh ? { value: ssh.mbps } : noSsh) },
        note: `goal ≥ ssh -L; the target read directly: ${directMbps.toFixed(0)} MB/s`,
      },
      ...[50, 99].map((q) => ({
        figure: `forward connection set-up to first byte, p${q}`,
        unit: 'ms',
        better: 'lower' as const,
        ours: percentile(ours, q),
        floor: percentile(direct, q),
        floorName: 'a direct loopback connection',
        peer: {
          name: 'ssh -L over ControlMaster',
          ...(ssh ? { value: percentile(ssh.setUps, q) } : noSsh),
        },
      })),
      {
        figure: 'forward: agent CPU per 100 MB (target → client)',
        unit: 's',
        better: 'lower',
        ours: agentPer100,
        floor: relay.senderCpuPer100,
        floorName: "the bare relay's sender (file → ws)",
        peer: { name: "sshd's side of ssh -L", ...(ssh ? { value: ssh.cpuPer100 } : noSsh) },
        note: `goal ≤ 2× sshd's; relay CPU per 100 MB: relay ${relay.relayCpuPer100.toFixed(2)}, receiver ${relay.receiverCpuPer100.toFixed(2)} s`,
      },
    ]);
  } finally {
    if (cli) await ended(cli);
    sshd?.stop();
    source.server.close();
    await agent.kill('SIGTERM');
    await hub.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
