/**
 * `npm run bench:idle`: what a connected, idle agent costs, against a floor run side by side.
 *
 *   ours   the agent (dist/cli.js run, production log level and spool) connected to the hub
 *          (a process), sampling cpu, memory and temperature at 1 Hz, with a stream client
 *          subscribed to the three streams
 *   ours over mqtt
 *          the same agent with an mqtt:// `server.url`, on a mosquitto with one hub started
 *          with `--broker` (each a process), and a stream client of that hub: its rows take the
 *          WebSocket agent as their floor, so "× floor" is what MQTT costs over WebSocket
 *   floor  a bare Node process holding one ws connection and sending the same three readings a
 *          second, read with plain readFileSync + parse (bench/floors/bare-ws-sampler.mjs)
 *   peer   collectd with the cpu and memory plugins at the same 1 s interval, CSV output
 *
 * All four run at once for `--seconds` (default 60), from `--settle` seconds (default 15) after
 * the agents are online; then RssAnon (private memory: what grows when something leaks) and RSS
 * are read, and CPU % over the window from schedstat. The settling time keeps start-up out of
 * an idle figure: about 8 s after start V8's memory reducer runs two or three full collections
 * in every process (about 50 ms of CPU in the agent, measured with --trace-gc and --cpu-prof),
 * once; over a 60 s window from `online` that one-off was a third of the agent's figure.
 * `--settle 0` measures from `online` as before. The temperature comes from a fixture thermal zone, so the figure is
 * the same on a VM without one. `IOTTLY_*` variables set for this script reach both agents, to
 * measure what a setting costs: `IOTTLY_STORAGE_FSYNC=never npm run bench:idle`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { spawnAgent, statusIs } from '../test/helpers/agent-process.js';
import { API_KEY, DEVICE_ID, DEVICE_TOKEN } from '../test/helpers/ws.js';
import { STOPPED_BY_CALLER } from '../test/helpers/owner.js';
import { startCollectd } from './lib/collectd.js';
import { startHubProcess } from './lib/hub-process.js';
import { startMosquittoProcess } from './lib/mosquitto-process.js';
import { cpuNanos, memoryOf, type MemoryFigures } from './lib/proc-stats.js';
import { reportRows, type BenchRow } from './lib/results.js';

const SECONDS = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 60;
const settleAt = process.argv.indexOf('--settle');
const SETTLE_SECONDS = settleAt >= 0 ? Number(process.argv[settleAt + 1]) : 15;
const STREAMS = ['cpu', 'memory', 'temperature'];
const FLOOR_SCRIPT = fileURLToPath(new URL('./floors/bare-ws-sampler.mjs', import.meta.url));
const MiB = 2 ** 20;

/** A /sys with one CPU thermal zone at 47 °C. */
function thermalFixture(root: string): { sysRoot: string; tempFile: string } {
  const zone = join(root, 'sys', 'class', 'thermal', 'thermal_zone0');
  mkdirSync(zone, { recursive: true });
  writeFileSync(join(zone, 'type'), 'cpu-thermal\n');
  writeFileSync(join(zone, 'temp'), '47000\n');
  return { sysRoot: join(root, 'sys'), tempFile: join(zone, 'temp') };
}

/** A ws server that only counts what the floor sends it. */
async function frameSink(): Promise<{ url: string; frames: () => number; close(): void }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  let frames = 0;
  wss.on('connection', (ws) => ws.on('message', () => frames++));
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    frames: () => frames,
    close: () => wss.close(),
  };
}

/** Counts telemetry frames of the device arriving at a /v1/stream client. */
async function subscribedClient(wsUrl: string): Promise<{ frames: () => number; close(): void }> {
  const ws = new WebSocket(`${wsUrl}/v1/stream?api_key=${API_KEY}`, { perMessageDeflate: false });
  await once(ws, 'open');
  let frames = 0;
  ws.on('message', (data: Buffer) => {
    if ((JSON.parse(data.toString()) as { type: string }).type === 'telemetry') frames++;
  });
  ws.send(
    JSON.stringify({
      type: 'subscribe',
      request_id: 'idle',
      payload: { device_id: DEVICE_ID, streams: STREAMS },
    }),
  );
  return { frames: () => frames, close: () => ws.close() };
}

interface Measured {
  memory: MemoryFigures;
  cpuPercent: number;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-idle-'));
  const { sysRoot, tempFile } = thermalFixture(work);
  const hub = await startHubProcess(new Map([[DEVICE_ID, DEVICE_TOKEN]]), API_KEY);
  const broker = await startMosquittoProcess();
  const brokerHub = await startHubProcess(new Map(), API_KEY, 'warn', ['--broker', broker.url]);
  const sink = await frameSink();
  const agentEnv = (serverUrl: string): Record<string, string> => ({
    IOTTLY_SERVER_URL: serverUrl,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_TELEMETRY_STREAMS: STREAMS.join(','),
    IOTTLY_TELEMETRY_INTERVAL_MS: '1000',
    IOTTLY_TELEMETRY_SYS_ROOT: sysRoot,
    IOTTLY_TELEMETRY_THERMAL_ZONE: 'thermal_zone0',
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        (entry): entry is [string, string] => entry[0].startsWith('IOTTLY_') && !!entry[1],
      ),
    ),
  });
  const agent = spawnAgent(STOPPED_BY_CALLER, ['run'], agentEnv(`${hub.wsUrl}/v1/device`));
  const mqttAgent = spawnAgent(STOPPED_BY_CALLER, ['run'], agentEnv(broker.url));
  const floor = spawn(process.execPath, [FLOOR_SCRIPT, sink.url, tempFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const collectd = startCollectd(1);
  try {
    await agent.waitForLog(statusIs('online'), 60_000);
    await mqttAgent.waitForLog(statusIs('online'), 60_000);
    await once(floor.stdout, 'data'); // "connected"
    floor.stdout.resume();
    const client = await subscribedClient(hub.wsUrl);
    const mqttClient = await subscribedClient(brokerHub.wsUrl);
    if (!(SETTLE_SECONDS >= 0)) throw new Error('--settle takes a number of seconds (0 or more)');
    await new Promise((resolve) => setTimeout(resolve, SETTLE_SECONDS * 1000));
    const pids = {
      ours: agent.child.pid as number,
      oursMqtt: mqttAgent.child.pid as number,
      floor: floor.pid as number,
      ...(collectd ? { peer: collectd.pid } : {}),
    };
    // Frames are counted over the window too, not over the settling time.
    const framesAtStart = { ws: client.frames(), mqtt: mqttClient.frames(), floor: sink.frames() };
    const cpuAtStart = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [name, cpuNanos(pid)]),
    );
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    const seconds = (performance.now() - t0) / 1000;
    const measure = (name: keyof typeof pids): Measured => {
      const pid = pids[name] as number;
      return {
        memory: memoryOf(pid),
        cpuPercent: ((cpuNanos(pid) - (cpuAtStart[name] as number)) / 1e9 / seconds) * 100,
      };
    };
    const ours = measure('ours');
    const oursMqtt = measure('oursMqtt');
    const bare = measure('floor');
    const peer = collectd ? measure('peer') : null;
    const delivered = client.frames() - framesAtStart.ws;
    const deliveredMqtt = mqttClient.frames() - framesAtStart.mqtt;
    const floorFrames = sink.frames() - framesAtStart.floor;
    client.close();
    mqttClient.close();
    const collectdRun = await collectd?.stop();
    const peerOk = peer !== null && collectdRun?.wroteCsv === true;

    /** One figure of the three processes as a row: the agent, the floor, and collectd. */
    const idleRow = (
      figure: string,
      unit: string,
      pick: (m: Measured) => number,
      note?: string,
    ): BenchRow => ({
      figure: `idle agent ${figure}, 3 streams at 1 Hz`,
      unit,
      better: 'lower',
      ours: pick(ours),
      floor: pick(bare),
      floorName: 'bare Node process holding one ws, same readings',
      peer: {
        name: 'collectd (cpu, memory, csv) at 1 s',
        ...(peerOk
          ? { value: pick(peer) }
          : {
              value: null,
              note: collectd ? 'collectd wrote no CSV' : 'collectd-core not installed',
            }),
      },
      ...(note ? { note } : {}),
    });
    /** The same figure of the agent over MQTT, against the agent over WebSocket. */
    const mqttRow = (figure: string, unit: string, pick: (m: Measured) => number): BenchRow => ({
      figure: `idle agent over MQTT ${figure}, 3 streams at 1 Hz`,
      unit,
      better: 'lower',
      ours: pick(oursMqtt),
      floor: pick(ours),
      floorName: 'the same agent over WebSocket, same run',
    });
    const after = Math.round(seconds);
    const rows = [
      idleRow(
        `private memory (RssAnon) after ${after} s`,
        'MiB',
        (m) => m.memory.rssAnonBytes / MiB,
      ),
      idleRow(`RSS after ${after} s`, 'MiB', (m) => m.memory.rssBytes / MiB),
      idleRow(
        `CPU over ${after} s`,
        '% of a core',
        (m) => m.cpuPercent,
        `${delivered} telemetry frames reached the subscribed client; the floor sent ${floorFrames}`,
      ),
      mqttRow(
        `private memory (RssAnon) after ${after} s`,
        'MiB',
        (m) => m.memory.rssAnonBytes / MiB,
      ),
      mqttRow(`RSS after ${after} s`, 'MiB', (m) => m.memory.rssBytes / MiB),
      {
        ...mqttRow(`CPU over ${after} s`, '% of a core', (m) => m.cpuPercent),
        note: `${deliveredMqtt} telemetry frames reached a client of the hub on the broker`,
      },
    ];
    console.log(
      `idle, ${seconds.toFixed(0)} s side by side, from ${SETTLE_SECONDS} s after the agents were online`,
    );
    console.log('                              RssAnon MiB   RSS MiB   CPU % of a core');
    const line = (name: string, m: Measured): void =>
      console.log(
        `  ${name.padEnd(28)}${(m.memory.rssAnonBytes / MiB).toFixed(1).padStart(9)}${(m.memory.rssBytes / MiB).toFixed(1).padStart(10)}${m.cpuPercent.toFixed(3).padStart(12)}`,
      );
    line('iottly-agent', ours);
    line('iottly-agent over mqtt', oursMqtt);
    line('floor: bare Node + ws', bare);
    if (peerOk) line('peer: collectd', peer);
    else console.log('  peer: collectd              not run (apt-get install collectd-core)');
    console.log(
      `  telemetry frames at the clients: ${delivered} over WebSocket, ${deliveredMqtt} over MQTT (expected ≈ ${Math.round(3 * seconds)})`,
    );
    // A connected agent that delivered nothing measured nothing: that is a failure, not a figure.
    if (delivered < 2 * seconds) throw new Error(`only ${delivered} frames reached the client`);
    if (deliveredMqtt < 2 * seconds)
      throw new Error(`only ${deliveredMqtt} frames reached the client of the hub on the broker`);
    reportRows(rows);
  } finally {
    floor.kill('SIGTERM');
    await collectd?.stop(); // a no-op when the measurement already stopped it
    await agent.kill('SIGTERM');
    await mqttAgent.kill('SIGTERM');
    await hub.stop();
    await brokerHub.stop();
    await broker.stop();
    sink.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
