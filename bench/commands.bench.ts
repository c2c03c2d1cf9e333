/**
 * `npm run bench:commands`: remote commands measured beside floors taken in the same run.
 *
 *   latency     `true` from a /v1/stream client through hub and agent (p50, p99), beside a bare
 *               Node spawn of `sh -c true` and `ssh true` over a ControlMaster connection
 *   throughput  a 256 MiB text file `cat`ed through agent and hub to a seed JSON client (MB/s,
 *               CPU seconds per 100 MB of the agent, the hub and the client, peak agent RSS),
 *               beside a bare ws stream of the same JSON messages in chunks of the same size;
 *               and by `iottly-agent exec DEVICE -- cat` (raw bytes, a process like ssh) beside
 *               the bare two-hop relay of the same shape (bench/floors/two-hop-relay.mjs) and
 *               `ssh cat` over a ControlMaster, with the login shell's rc files read (root's
 *               ~/.bashrc, as Debian's bash does under sshd) and skipped (HOME pointed at an empty
 *               folder for that key)
 *
 * The agent, the hub and the exec client run as processes (dist/cli.js), the seed JSON client
 * in this one (a bare ws that parses each frame once, as the floor's client does). ssh needs
 * `sshd` (apt-get install openssh-server); without it those rows say "skipped".
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import {
  CLI_PATH,
  spawnAgent,
  statusIs,
  type AgentProcess,
} from '../test/helpers/agent-process.js';
import { API_KEY, DEVICE_ID, DEVICE_TOKEN } from '../test/helpers/ws.js';
import { STOPPED_BY_CALLER } from '../test/helpers/owner.js';
import {
  cpuSeconds,
  descendantsOf,
  memoryOf,
  percentile,
  reapedChildrenCpuSeconds,
} from './lib/proc-stats.js';
import { startHubProcess, type HubProcess } from './lib/hub-process.js';
import { reportRows } from './lib/results.js';
import { startSshd, type Sshd } from './lib/sshd-peer.js';
import { twoHopRelayThroughput } from './lib/two-hop-relay.js';

const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 300);
const FILE_BYTES = Number(process.env.BENCH_FILE_MIB ?? 256) * 1024 * 1024;
const MB = 1e6;
const work = mkdtempSync(join(tmpdir(), 'bench-commands-'));

/** CPU seconds per 100 MB of the file. */
const per100 = (cpuS: number): number => (cpuS / (FILE_BYTES / MB)) * 100;

/** This process's own CPU seconds (user + system). */
function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function row(name: string, value: string, floor = ''): void {
  console.log(`${name.padEnd(52)} ${value.padStart(14)}  ${floor}`);
}

function makeTextFile(path: string, bytes: number): void {
  const line = '2026-05-06 14:22:44.123 INFO worker[42] processed batch id=0123456789 ok\n';
  const block = Buffer.from(line.repeat(Math.ceil((1 << 20) / line.length))).subarray(0, 1 << 20);
  const fd = openSync(path, 'w');
  for (let written = 0; written < bytes; written += block.length) writeSync(fd, block);
  closeSync(fd);
}

// ── floors ───────────────────────────────────────────────────────────────────────────────

async function bareSpawnLatency(): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_RUNS; i++) {
    const t = performance.now();
    const child = spawn('/bin/sh', ['-c', 'true'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await once(child, 'close');
    samples.push(performance.now() - t);
  }
  return samples;
}

/**
 * The file over one loopback ws hop, both ends in this process: `binary` is the transport's own
 * ceiling; `json` wraps each chunk in the very `command_output` the hub sends a seed client
 * (same fields, same order, chunks of the size the hub sent in this run) and parses it once at
 * the client, the least any JSON protocol pays, and the floor the agent's path is judged
 * against. Returns MB/s and this process's CPU s per 100 MB (both ends together).
 */
async function bareWsThroughput(
  file: string,
  framing: 'binary' | 'json',
  chunkBytes = 64 * 1024,
): Promise<{ mbps: number; cpuPer100: number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const { port } = wss.address() as AddressInfo;
  wss.on('connection', (ws) => {
    const stream = createReadStream(file, { highWaterMark: chunkBytes });
    let seq = 0;
    stream.on('data', (chunk) => {
      if (framing === 'binary') ws.send(chunk, { binary: true });
      else
        ws.send(
          JSON.stringify({
            type: 'command_output',
            payload: { chunk: chunk.toString(), fd: 'stdout' },
            request_id: 'b1',
            seq: ++seq,
          }),
        );
      if (ws.bufferedAmount > 1 << 20) {
        stream.pause();
        const wait = (): void =>
          ws.bufferedAmount > 1 << 19 ? void setImmediate(wait) : void stream.resume();
        wait();
      }
    });
    stream.on('end', () => ws.close());
  });
  const cpu0 = ownCpuSeconds();
  const t = performance.now();
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  let received = 0;
  client.on('message', (data: Buffer, isBinary: boolean) => {
    received += isBinary
      ? data.length
      : Buffer.byteLength(
          (JSON.parse(data.toString()) as { payload: { chunk: string } }).payload.chunk,
        );
  });
  await once(client, 'close');
  const seconds = (performance.now() - t) / 1000;
  const cpuPer100 = per100(ownCpuSeconds() - cpu0);
  wss.close();
  if (received !== FILE_BYTES) throw new Error(`bare ws: ${received} bytes`);
  return { mbps: received / MB / seconds, cpuPer100 };
}

// ── through hub and agent ────────────────────────────────────────────────────────────────

/** A seed client on /v1/stream: a bare ws, each frame parsed once by whoever listens. */
async function openSeedClient(hubUrl: string): Promise<WebSocket> {
  const ws = new WebSocket(`${hubUrl}/v1/stream?api_key=${API_KEY}`, { perMessageDeflate: false });
  await once(ws, 'open');
  return ws;
}

let nextId = 0;
function runCommand(
  client: WebSocket,
  payload: Record<string, unknown>,
  onChunk?: (chunk: string) => void,
): Promise<Record<string, unknown>> {
  const requestId = `b${++nextId}`;
  return new Promise((resolve, reject) => {
    const onMessage = (data: Buffer): void => {
      const frame = JSON.parse(data.toString()) as {
        type: string;
        request_id?: string;
        payload: Record<string, unknown>;
      };
      if (frame.request_id !== requestId) return;
      if (frame.type === 'command_output') onChunk?.(frame.payload.chunk as string);
      else {
        client.off('message', onMessage);
        if (frame.type === 'command_done') resolve(frame.payload);
        else reject(new Error(JSON.stringify(frame.payload)));
      }
    };
    client.on('message', onMessage);
    client.send(
      JSON.stringify({
        type: 'command',
        request_id: requestId,
        payload: { device_id: DEVICE_ID, ...payload },
      }),
    );
  });
}

async function main(): Promise<void> {
  const file = join(work, 'text.log');
  makeTextFile(file, FILE_BYTES);
  const hub = await startHubProcess(new Map([[DEVICE_ID, DEVICE_TOKEN]]), API_KEY);
  const agent: AgentProcess = spawnAgent(STOPPED_BY_CALLER, ['run'], {
    IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_LOG_LEVEL: 'info', // the production default: its log lines are part of the cost
    IOTTLY_COMMANDS_MAX_OUTPUT_BYTES: String(2 * FILE_BYTES),
  });
  const sshd = await startSshd(work);
  try {
    await agent.waitForLog(statusIs('online'));
    const client = await openSeedClient(hub.wsUrl);
    const pid = agent.child.pid as number;

    console.log(
      `node ${process.version}, ${LATENCY_RUNS} latency runs, ${FILE_BYTES / 1048576} MiB file\n`,
    );
    console.log('latency of `true`                                          p50 / p99 ms');
    for (let i = 0; i < 20; i++) await runCommand(client, { command: 'true' }); // warm-up
    const through: number[] = [];
    for (let i = 0; i < LATENCY_RUNS; i++) {
      const t = performance.now();
      await runCommand(client, { command: 'true' });
      through.push(performance.now() - t);
    }
    const bare = await bareSpawnLatency();
    const p = (s: number[]): string =>
      `${percentile(s, 50).toFixed(2)} / ${percentile(s, 99).toFixed(2)}`;
    row('client → hub → agent → sh -c true → back', p(through));
    row(
      'floor: Node spawn of sh -c true',
      p(bare),
      `ratio p50 ${(percentile(through, 50) / percentile(bare, 50)).toFixed(2)}×`,
    );
    // The goal is against ssh with the user's rc files skipped (issue 21): that is ssh's own
    // cost; the rc-read row shows what a login shell's ~/.bashrc adds on top.
    let sshLatency: number[] | null = null;
    let sshRcLatency: number[] | null = null;
    if (sshd) {
      sshLatency = [];
      sshRcLatency = [];
      for (let i = 0; i < LATENCY_RUNS; i++) {
        let t = performance.now();
        await sshd.noRc.run(['true']);
        sshLatency.push(performance.now() - t);
        t = performance.now();
        await sshd.run(['true']);
        sshRcLatency.push(performance.now() - t);
      }
      const ratio = (s: number[]): string =>
        (percentile(through, 50) / percentile(s, 50)).toFixed(2);
      row(
        'floor: ssh true over ControlMaster, rc files skipped',
        p(sshLatency),
        `ours/ssh p50 ${ratio(sshLatency)} (goal ≤ 0.5)`,
      );
      row(
        '  ssh true over ControlMaster, rc files read',
        p(sshRcLatency),
        `ours/ssh p50 ${ratio(sshRcLatency)}`,
      );
    } else row('floor: ssh true over ControlMaster', 'skipped (no sshd)');

    console.log(
      `\nthroughput of cat ${FILE_BYTES / 1048576} MiB                            MB/s   CPU s/100 MB   peak RSS`,
    );
    let received = 0;
    let chunks = 0;
    let peakRss = memoryOf(pid).rssBytes;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, memoryOf(pid).rssBytes)), 20);
    const cpu0 = cpuSeconds(pid);
    const hubCpu0 = cpuSeconds(hub.pid);
    const clientCpu0 = ownCpuSeconds();
    const t = performance.now();
    const done = await runCommand(
      client,
      { argv: ['cat', file], stream_output: true, timeout_s: 600 },
      (chunk) => {
        received += Buffer.byteLength(chunk);
        chunks++;
      },
    );
    const seconds = (performance.now() - t) / 1000;
    clearInterval(sampler);
    const cpuPer100 = per100(cpuSeconds(pid) - cpu0);
    const hubCpuPer100 = per100(cpuSeconds(hub.pid) - hubCpu0);
    const clientCpuPer100 = per100(ownCpuSeconds() - clientCpu0);
    if (received !== FILE_BYTES || done.exit_code !== 0)
      throw new Error(`received ${received} bytes, done ${JSON.stringify(done)}`);
    const ours = FILE_BYTES / MB / seconds;
    // The floor's chunks are the size the hub's were (a 64 KiB pipe read, as a rule).
    const chunkBytes = Math.round(FILE_BYTES / chunks);
    row(
      'seed client ← hub (JSON from bytes) ← agent ← cat',
      `${ours.toFixed(0)}`,
      `${cpuPer100.toFixed(2)} s   ${(peakRss / 1048576).toFixed(0)} MiB`,
    );
    row('  agent CPU ceiling (100 MB / its CPU s per 100 MB)', `${(100 / cpuPer100).toFixed(0)}`);
    row(
      '  CPU s/100 MB: hub, seed client (this process)',
      `${hubCpuPer100.toFixed(2)}, ${clientCpuPer100.toFixed(2)}`,
      `${chunks} chunks of ${(chunkBytes / 1024).toFixed(1)} KiB on average`,
    );
    const jsonFloor = await bareWsThroughput(file, 'json', chunkBytes);
    row(
      'floor: bare ws JSON text frames, one hop',
      `${jsonFloor.mbps.toFixed(0)}`,
      `${jsonFloor.cpuPer100.toFixed(2)} s (both ends)   ours/floor ${(ours / jsonFloor.mbps).toFixed(2)}`,
    );
    const binaryFloor = (await bareWsThroughput(file, 'binary')).mbps;
    row(
      'floor: bare ws binary frames, one hop',
      `${binaryFloor.toFixed(0)}`,
      `ours/floor ${(ours / binaryFloor).toFixed(2)}`,
    );
    let sshT: { mbps: number; cpuPer100: number } | null = null;
    if (sshd) {
      sshT = await sshThroughput(sshd, file);
      row(
        'floor: ssh cat over ControlMaster',
        `${sshT.mbps.toFixed(0)}`,
        `${sshT.cpuPer100.toFixed(2)} s (sshd side)   ours/ssh ${(ours / sshT.mbps).toFixed(2)}`,
      );
    } else row('floor: ssh cat over ControlMaster', 'skipped (no sshd)');
    const exec = await execThroughput(hub, pid, file);
    row(
      'iottly-agent exec DEVICE -- cat (binary frames)',
      `${exec.mbps.toFixed(0)}`,
      `${exec.cpuPer100.toFixed(2)} s   ${(exec.peakRss / 1048576).toFixed(0)} MiB`,
    );
    row(
      '  CPU s/100 MB: agent, hub, exec client',
      `${exec.cpuPer100.toFixed(2)}, ${exec.hubCpuPer100.toFixed(2)}, ${exec.clientCpuPer100.toFixed(2)}`,
    );
    const relay = await twoHopRelayThroughput(file, FILE_BYTES);
    row(
      'floor: bare two-hop ws relay, three Node processes',
      `${relay.mbps.toFixed(0)}`,
      `exec/floor ${(exec.mbps / relay.mbps).toFixed(2)}`,
    );
    row(
      '  CPU s/100 MB: sender, relay, receiver',
      `${relay.senderCpuPer100.toFixed(2)}, ${relay.relayCpuPer100.toFixed(2)}, ${relay.receiverCpuPer100.toFixed(2)}`,
    );
    let sshNoRc: { mbps: number; cpuPer100: number } | null = null;
    if (sshd) {
      sshNoRc = await sshThroughput(sshd, file, sshd.noRc.args);
      row(
        'floor: ssh cat over ControlMaster, rc files skipped',
        `${sshNoRc.mbps.toFixed(0)}`,
        `${sshNoRc.cpuPer100.toFixed(2)} s (sshd side)   exec/ssh ${(exec.mbps / sshNoRc.mbps).toFixed(2)}`,
      );
      if (sshT)
        row(
          'floor: ssh cat over ControlMaster, rc files read',
          `${sshT.mbps.toFixed(0)}`,
          `exec/ssh ${(exec.mbps / sshT.mbps).toFixed(2)}`,
        );
    }
    client.close();

    const noSsh = { value: null, note: 'openssh-server not installed' };
    const sshPeer = (value: (ssh: NonNullable<typeof sshT>) => number) => ({
      name: 'ssh over ControlMaster',
      ...(sshT ? { value: value(sshT) } : noSsh),
    });
    const latencyPeer = (p: number) => ({
      name: 'ssh true over ControlMaster, rc skipped',
      ...(sshLatency ? { value: percentile(sshLatency, p) } : noSsh),
    });
    reportRows([
      ...[50, 99].map((p) => ({
        figure: `command round trip of \`true\`, p${p}`,
        unit: 'ms',
        better: 'lower' as const,
        ours: percentile(through, p),
        floor: percentile(bare, p),
        floorName: 'Node spawn of sh -c true',
        peer: latencyPeer(p),
        ...(sshRcLatency
          ? { note: `ssh with rc files read: ${percentile(sshRcLatency, p).toFixed(2)} ms` }
          : {}),
      })),
      {
        figure: `command output throughput, cat ${FILE_BYTES / 1048576} MiB`,
        unit: 'MB/s',
        better: 'higher',
        ours,
        floor: jsonFloor.mbps,
        floorName: 'bare ws JSON frames, one hop',
        peer: sshPeer((ssh) => ssh.mbps),
        note: `goal ≥ 0.8× the floor; bare ws binary frames: ${binaryFloor.toFixed(0)} MB/s`,
      },
      {
        figure: 'hub CPU per 100 MB of command output (JSON for a seed client)',
        unit: 's',
        better: 'lower',
        ours: hubCpuPer100,
        floor: jsonFloor.cpuPer100,
        floorName: 'bare ws JSON hop, sender and client in one process',
        note: `the seed client (the bench) used ${clientCpuPer100.toFixed(2)} s`,
      },
      {
        figure: `exec DEVICE -- cat ${FILE_BYTES / 1048576} MiB (raw bytes)`,
        unit: 'MB/s',
        better: 'higher',
        ours: exec.mbps,
        floor: relay.mbps,
        floorName: 'bare two-hop ws relay, three Node processes',
        ...(sshNoRc
          ? {
              peer: { name: 'ssh cat over ControlMaster, rc skipped', value: sshNoRc.mbps },
              note: `goal ≥ ssh's; ssh with rc files read: ${sshT?.mbps.toFixed(0) ?? '?'} MB/s; one bare binary hop: ${binaryFloor.toFixed(0)} MB/s`,
            }
          : { peer: { name: 'ssh cat over ControlMaster', ...noSsh } }),
      },
      {
        figure: 'agent CPU per 100 MB of exec -- cat output',
        unit: 's',
        better: 'lower',
        ours: exec.cpuPer100,
        floor: relay.senderCpuPer100,
        floorName: "the bare relay's sender (file → ws)",
        ...(sshNoRc
          ? {
              peer: { name: "sshd's side of ssh cat, rc skipped", value: sshNoRc.cpuPer100 },
              note: `goal ≤ 2× sshd's; with rc files read: ${sshT?.cpuPer100.toFixed(2) ?? '?'} s`,
            }
          : { peer: { name: "sshd's side of ssh cat", ...noSsh } }),
      },
      {
        figure: 'hub CPU per 100 MB of exec -- cat output',
        unit: 's',
        better: 'lower',
        ours: exec.hubCpuPer100,
        floor: relay.relayCpuPer100,
        floorName: 'the bare relay process',
      },
      {
        figure: 'exec client CPU per 100 MB of exec -- cat output',
        unit: 's',
        better: 'lower',
        ours: exec.clientCpuPer100,
        floor: relay.receiverCpuPer100,
        floorName: "the bare relay's receiver (ws → stdout)",
      },
      {
        figure: 'agent CPU per 100 MB of command output',
        unit: 's',
        better: 'lower',
        ours: cpuPer100,
        floor: null,
        floorName: 'none (peer only)',
        peer: { ...sshPeer((ssh) => ssh.cpuPer100), name: "sshd's side of ssh cat" },
      },
    ]);
  } finally {
    sshd?.stop();
    await agent.kill('SIGTERM');
    await hub.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** `ssh host cat file` into this process, and the server side's CPU (the agent's counterpart). */
async function sshThroughput(
  sshd: Sshd,
  file: string,
  args: string[] = sshd.args,
): Promise<{ mbps: number; cpuPer100: number }> {
  const server = (): number => descendantsOf(sshd.pid).reduce((sum, pid) => sum + safeCpu(pid), 0);
  const cpu0 = server();
  const t = performance.now();
  const child = spawn('ssh', [...args, 'cat', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let received = 0;
  child.stdout.on('data', (chunk: Buffer) => (received += chunk.length));
  await once(child, 'close');
  const seconds = (performance.now() - t) / 1000;
  if (received !== FILE_BYTES) throw new Error(`ssh cat: ${received} bytes`);
  return {
    mbps: FILE_BYTES / MB / seconds,
    cpuPer100: ((server() - cpu0) / (FILE_BYTES / MB)) * 100,
  };
}

/**
 * `iottly-agent exec DEVICE -- cat FILE` as a process (as an operator runs it), its stdout piped
 * into this one as ssh's is; the CPU of the agent, the hub and the exec client over the transfer
 * (the client's from this process's reaped-children counters: it has exited by then).
 */
async function execThroughput(
  hub: HubProcess,
  agentPid: number,
  file: string,
): Promise<{
  mbps: number;
  cpuPer100: number;
  hubCpuPer100: number;
  clientCpuPer100: number;
  peakRss: number;
}> {
  let peakRss = memoryOf(agentPid).rssBytes;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, memoryOf(agentPid).rssBytes)), 20);
  const cpu0 = cpuSeconds(agentPid);
  const hubCpu0 = cpuSeconds(hub.pid);
  const clientCpu0 = reapedChildrenCpuSeconds();
  const t = performance.now();
  const child = spawn(
    process.execPath,
    [CLI_PATH, 'exec', '-n', '--timeout', '600', DEVICE_ID, '--', 'cat', file],
    {
      env: { ...process.env, IOTTLY_HUB_URL: hub.wsUrl, IOTTLY_API_KEY: API_KEY },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let received = 0;
  child.stdout.on('data', (chunk: Buffer) => (received += chunk.length));
  const [code] = (await once(child, 'close')) as [number];
  const seconds = (performance.now() - t) / 1000;
  clearInterval(sampler);
  if (received !== FILE_BYTES || code !== 0)
    throw new Error(`exec cat: ${received} bytes, exit ${code}`);
  return {
    mbps: FILE_BYTES / MB / seconds,
    cpuPer100: per100(cpuSeconds(agentPid) - cpu0),
    hubCpuPer100: per100(cpuSeconds(hub.pid) - hubCpu0),
    clientCpuPer100: per100(reapedChildrenCpuSeconds() - clientCpu0),
    peakRss,
  };
}

function safeCpu(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return 0;
  }
}

await main();
