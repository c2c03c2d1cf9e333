/**
 * `npm run fleet`: what the hubs (and the broker) cost for a fleet of agents, and how large a
 * fleet this machine sustains with telemetry delivered in under a second (p99).
 *
 *   hub     `iottly-agent hub`, a process of its own: its CPU and memory come from /proc alone;
 *           with `--transport mqtt`, H of them (`--hubs`, default 2) with `--broker`, and a
 *           mosquitto started by the run, measured the same way
 *   agents  N real agents (createAgent) sharing one event loop, each with its own device id,
 *           spool and fixture /proc + /sys tree, sampling cpu, memory and temperature at 1 Hz,
 *           over WebSocket to the hub or over MQTT 5 to the broker; in one shard process up to
 *           its open-file limit (~3,000 agents here), else split over as few as hold them
 *   client  one /v1/stream client per hub, each a process of its own subscribed to its hub's
 *           share of the devices; delay is its arrival time − the sample time in the frame (one
 *           machine, one clock)
 *
 * Lost frames are counted exactly: what the agents write to their links is observed (the
 * WebSocket's sends, the MQTT client's publishes), so a sample written by an agent and never
 * seen by a client is lost, while a sample an overloaded simulator never took shows as "sent"
 * below "due" instead.
 *
 *   npm run fleet -- --agents 200 [--seconds 60]    one size; exits 1 on lost frames or a failure
 *   npm run fleet -- --find-max [--seconds 20]      doubles from 50 until p99 ≥ 1 s, a loss or a
 *                                                   failure (agents not online in time),
 *                                                   then bisects; reports the largest that held
 *   --transport ws|mqtt   WebSocket to one hub (default), or MQTT 5 through a broker
 *   --hubs H              hub processes on the broker (mqtt only; default 2)
 *   --settle S            pause between "all subscribed" and the window (default 5)
 */
import { parseArgs } from 'node:util';
import { reportRows, type BenchRow } from './lib/results.js';
import type { FleetTransport } from './fleet/fleet-servers.js';
import { runFleetStep, type FleetStepResult, type ProcessFigures } from './fleet/fleet-step.js';
import { largestSustained, nextFleetSize, type FleetTrial } from './fleet/max-search.js';
import { openFileLimit } from './lib/proc-stats.js';

const DELAY_TARGET_MS = 1_000;
/** Open files per simulated agent: its socket, its spool segment (twice), three fixture files. */
const FILES_PER_AGENT = 6;
/** Open files a process needs besides its agents' or devices'. */
const FILES_SPARE = 256;
const MiB = 2 ** 20;

const { values } = parseArgs({
  options: {
    agents: { type: 'string' },
    'find-max': { type: 'boolean', default: false },
    seconds: { type: 'string' },
    settle: { type: 'string', default: '5' },
    transport: { type: 'string', default: 'ws' },
    hubs: { type: 'string' },
  },
});
const transport = transportOf(values.transport);
const findMax = values['find-max'] || values.agents === 'auto';
const seconds = positive('--seconds', values.seconds ?? (findMax ? '20' : '60'));
const settleSeconds = positive('--settle', values.settle);
const fileLimit = openFileLimit();
const hubs = positive('--hubs', values.hubs ?? (transport === 'mqtt' ? '2' : '1'));
if (transport === 'ws' && hubs !== 1) {
  console.error('fleet: --hubs: a WebSocket fleet has one hub; use --transport mqtt for more');
  process.exit(2);
}
const agentsPerShard = Math.floor((fileLimit - FILES_SPARE) / FILES_PER_AGENT);
/** The hub holds one socket per agent over WebSocket, the broker (started by us) over MQTT. */
const ceiling = fileLimit - FILES_SPARE;
const holder = transport === 'mqtt' ? "the broker's" : "the hub's";
/** How the figures are named: the WebSocket rows as before, the MQTT ones with their setup. */
const over = transport === 'mqtt' ? ` over MQTT with ${hubs} hubs` : '';

function transportOf(text: string): FleetTransport {
  if (text === 'ws' || text === 'mqtt') return text;
  console.error(`fleet: --transport: expected ws or mqtt, got "${text}"`);
  process.exit(2);
}

function positive(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`fleet: ${flag}: expected a positive integer, got "${text}"`);
    process.exit(2);
  }
  return value;
}

function sustained(result: FleetStepResult): boolean {
  return result.failure === null && result.lost === 0 && result.delayP99Ms < DELAY_TARGET_MS;
}

async function step(agents: number): Promise<FleetStepResult> {
  console.log(`\n▶ ${agents} agents, ${seconds} s window`);
  const result = await runFleetStep({
    transport,
    hubs,
    agents,
    seconds,
    settleSeconds,
    agentsPerShard,
    progress: (line) => console.log(`  ${line}`),
  });
  console.log(describe(result));
  return result;
}

function describe(r: FleetStepResult): string {
  if (r.failure !== null) return `  FAILED: ${r.failure}`;
  const memory = (p: ProcessFigures): string =>
    `RSS ${(p.rssBytes / MiB).toFixed(1)} MiB, RssAnon ${(p.rssAnonBytes / MiB).toFixed(1)} MiB`;
  const hubLines =
    r.hubs.length === 1
      ? [
          `  hub: ${r.hubCpuPercent.toFixed(1)} % of one core, ${memory(r.hubs[0] as ProcessFigures)}`,
        ]
      : [
          `  hubs: ${r.hubCpuPercent.toFixed(1)} % of one core together`,
          ...r.hubs.map((h, i) => `    hub ${i + 1}: ${h.cpuPercent.toFixed(1)} %, ${memory(h)}`),
        ];
  const brokerLines = r.broker
    ? [
        `  broker (mosquitto): ${r.broker.cpuPercent.toFixed(1)} % of one core, ${memory(r.broker)}, ${r.broker.openFiles} open files of ${r.broker.fileLimit} allowed`,
      ]
    : [];
  return [
    ...hubLines,
    ...brokerLines,
    `  agents (${r.shards} process${r.shards > 1 ? 'es' : ''}): ${r.fleetCpuPercent.toFixed(1)} % of one core, event-loop delay p99 ${r.fleetLoopDelayP99Ms.toFixed(1)} ms; stream client${r.hubs.length > 1 ? 's' : ''} ${r.clientCpuPercent.toFixed(1)} %`,
    `  samples: ≈${r.expectedSamples} due, sent ${r.sent}, received ${r.received}, lost ${r.lost}, duplicates ${r.duplicates}; ${r.framesPerSecond.toFixed(0)} frames/s delivered`,
    `  delay sample → client: p50 ${r.delayP50Ms.toFixed(0)} ms, p99 ${r.delayP99Ms.toFixed(0)} ms, max ${r.delayMaxMs.toFixed(0)} ms; link drops ${r.linkDrops}; ${sustained(r) ? 'sustained' : 'NOT sustained'}`,
  ].join('\n');
}

function rows(r: FleetStepResult): BenchRow[] {
  const at = `fleet of ${r.agents} agents${over} × 3 streams at 1 Hz`;
  const none = { floor: null, floorName: 'no floor' };
  const row = (figure: string, unit: string, ours: number): BenchRow => ({
    figure: `${at}: ${figure}`,
    unit,
    better: 'lower',
    ours,
    ...none,
  });
  const byHub = r.hubs.length > 1;
  return [
    row(byHub ? 'hub CPU, all hubs together' : 'hub CPU', '% of one core', r.hubCpuPercent),
    ...(byHub
      ? [
          row(
            'hub CPU, the busiest hub',
            '% of one core',
            Math.max(...r.hubs.map((h) => h.cpuPercent)),
          ),
        ]
      : []),
    row(byHub ? 'hub RssAnon, the largest hub' : 'hub RssAnon', 'MiB', r.hubRssAnonBytes / MiB),
    row(byHub ? 'hub RSS, the largest hub' : 'hub RSS', 'MiB', r.hubRssBytes / MiB),
    ...(r.broker
      ? [
          row('broker (mosquitto) CPU', '% of one core', r.broker.cpuPercent),
          row('broker (mosquitto) RSS', 'MiB', r.broker.rssBytes / MiB),
        ]
      : []),
    row('delivery delay p99', 'ms', r.delayP99Ms),
  ];
}

if (findMax) {
  const trials: (FleetTrial & { result: FleetStepResult })[] = [];
  const search = { first: 50, ceiling, bisections: 2, granularity: 25 };
  for (
    let agents = nextFleetSize(trials, search);
    agents !== null;
    agents = nextFleetSize(trials, search)
  ) {
    const result = await step(agents);
    trials.push({ agents, sustained: sustained(result), result });
  }
  const best = largestSustained(trials);
  console.log(`\nfleet${over} --find-max (p99 delay < 1 s, no frame lost)`);
  for (const t of [...trials].sort((a, b) => a.agents - b.agents)) {
    const r = t.result;
    const figures =
      r.failure ??
      `p99 ${r.delayP99Ms.toFixed(0)} ms, lost ${r.lost}, hub ${r.hubCpuPercent.toFixed(0)} % CPU / ${(r.hubRssAnonBytes / MiB).toFixed(0)} MiB RssAnon, agents ${r.fleetCpuPercent.toFixed(0)} % in ${r.shards}, client${r.hubs.length > 1 ? 's' : ''} ${r.clientCpuPercent.toFixed(0)} %${r.broker ? `, broker ${r.broker.cpuPercent.toFixed(0)} % / ${(r.broker.rssBytes / MiB).toFixed(0)} MiB RSS` : ''}`;
    console.log(
      `  ${String(t.agents).padStart(5)} agents: ${t.sustained ? 'held  ' : 'failed'}  ${figures}`,
    );
  }
  console.log(
    `largest fleet sustained: ${best ?? 'none'} agents (largest tried ${Math.max(...trials.map((t) => t.agents))}; ${holder} open-file limit allows ${ceiling})`,
  );
  const bestResult = trials.find((t) => t.agents === best)?.result;
  if (bestResult) {
    reportRows([
      {
        figure: `largest fleet${over} with telemetry p99 < 1 s (2 cores)`,
        unit: 'agents',
        better: 'higher',
        ours: bestResult.agents,
        floor: null,
        floorName: 'no floor',
      },
      ...rows(bestResult),
    ]);
  }
  process.exitCode = best === null ? 1 : 0;
} else {
  const agents = positive('--agents', values.agents ?? '100');
  if (agents > ceiling) {
    console.error(
      `fleet: --agents ${agents} is more devices than ${holder} open-file limit allows (at most ${ceiling})`,
    );
    process.exit(2);
  }
  const result = await step(agents);
  reportRows(rows(result));
  // Timing is reported, not judged: only a failure or a lost frame fails the run.
  process.exitCode = result.failure !== null || result.lost > 0 ? 1 : 0;
}
