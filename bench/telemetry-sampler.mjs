/**
 * Plain JavaScript on the built dist/, so no TypeScript loader runs in the measured process.
 * The agent's per-sample path in a bare process, for `bench/telemetry.ts`: cpu and memory (and
 * any other built-ins named) every `--interval-ms` through StreamTask on the real clock, each
 * sample turned into the frame text the outbox would queue. Runs `--seconds`, then exits.
 * With `--rounds N --interval-ms 0` it instead samples N rounds back to back (for strace).
 */
import { pino } from 'pino';
import { probeBuiltins } from '../dist/telemetry/builtin-sources.js';
import { TelemetryDefaults } from '../dist/config/telemetry-schema.js';
import { StreamTask } from '../dist/telemetry/stream-task.js';
import { systemClock } from '../dist/time/clock.js';

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]?.replace(/^--/, '') ?? '', process.argv[i + 1] ?? '');
const streams = (args.get('streams') ?? 'cpu,memory').split(',');
const intervalMs = Number(args.get('interval-ms') ?? 100);
const seconds = Number(args.get('seconds') ?? 10);
const rounds = Number(args.get('rounds') ?? 0);

// The agent's defaults: this machine's /proc and /sys, the automatic thermal zone.
const probes = probeBuiltins({
  ...TelemetryDefaults,
  thermalZone: '',
  networkInterfaces: [],
  clock: systemClock,
});
let frames = 0;
const tasks = streams.map((name) => {
  const probe = probes.get(name);
  if (!probe?.ok) throw new Error(`${name} is not available here`);
  return new StreamTask({
    source: probe.source,
    clock: systemClock,
    logger: pino({ level: 'silent' }),
    send: (stream, ts, value) => {
      const frame = JSON.stringify({
        type: 'telemetry',
        channel: 'telemetry',
        ts,
        payload: { device_id: 'bench', stream, ts, value },
      });
      frames += frame.length > 0 ? 1 : 0;
    },
    reportError: (error) => {
      throw error;
    },
  });
});

if (rounds > 0) {
  // Scheduled far out (so primed and live) but driven by hand, back to back.
  for (const task of tasks) task.apply({ intervalMs: 86_400_000, deadband: null }, 86_400_000);
  for (let i = 0; i < rounds; i++) for (const task of tasks) task.sampleNow();
  for (const task of tasks) task.stop();
  process.stdout.write(`${JSON.stringify({ frames })}\n`);
} else {
  for (const task of tasks) task.apply({ intervalMs, deadband: null }, 0);
  process.stdout.write('ready\n');
  setTimeout(() => {
    for (const task of tasks) task.stop();
    process.stdout.write(`${JSON.stringify({ frames })}\n`);
  }, seconds * 1000);
}
