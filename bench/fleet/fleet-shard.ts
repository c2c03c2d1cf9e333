/**
 * A fleet shard: a process holding a share of the simulated agents (bench/fleet/simulated-
 * fleet.ts), all on its one event loop. The run splits a fleet into shards only as far as one
 * process's open-file limit requires, so each shard holds thousands of agents, measured from
 * /proc by the parent like the hub. Driven over IPC (bench/fleet/shard-protocol.ts).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { SampleTally } from './sample-tally.js';
import type { FleetShardSettings, FromFleetShard, ToFleetShard } from './shard-protocol.js';
import { SimulatedFleet } from './simulated-fleet.js';

function tell(message: FromFleetShard): void {
  process.send?.(message);
}

async function runShard(settings: FleetShardSettings): Promise<void> {
  const sent = new SampleTally();
  const fleet = new SimulatedFleet({
    ...settings,
    onSampleSent: (deviceId, stream, tsMs) => sent.record(deviceId, stream, tsMs),
    logger: pino({ level: 'warn' }, pino.destination(2)),
  });
  let loop: IntervalHistogram | null = null;

  process.once('disconnect', () => {
    void fleet.stop().finally(() => process.exit(0));
  });
  process.on('message', (message: ToFleetShard) => {
    if (message.kind === 'window') {
      try {
        sent.setWindow(message.window);
      } catch (err) {
        tell({ kind: 'failed', message: (err as Error).message });
      }
      loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
    } else if (message.kind === 'collect') {
      loop?.disable();
      void collect(message.endMs, message.graceMs);
    }
  });

  async function collect(endMs: number, graceMs: number): Promise<void> {
    const streams = settings.devices.length * settings.streams.length;
    const deadline = Date.now() + graceMs;
    while (sent.streamsPast(endMs) < streams && Date.now() < deadline) await sleep(100);
    tell({
      kind: 'sent',
      figures: {
        sent: sent.inWindow,
        sentByDevice: sent.inWindowByDevice(),
        linkDrops: fleet.linkDrops,
        loopDelayP99Ms: (loop?.percentile(99) ?? 0) / 1e6,
      },
    });
  }

  try {
    await fleet.start();
    tell({ kind: 'online' });
  } catch (err) {
    tell({ kind: 'failed', message: (err as Error).message });
  }
}

process.once('message', (message: ToFleetShard) => {
  if (message.kind === 'start') void runShard(message.settings);
  else tell({ kind: 'failed', message: `expected "start" first, got "${message.kind}"` });
});
