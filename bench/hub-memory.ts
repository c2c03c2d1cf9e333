/**
 * `npm run bench:hub-memory`: the hub's resident memory while a stream client that does not
 * read faces a 200 MB command output flood from a real agent, then while one client attempts
 * 10,000 subscriptions without reading (issue 13: "under 150 MB"). The hub runs as a process of
 * its own; see bench/lib/hub-memory-scenario.ts for the steps. Exits 1 if the bound is passed
 * or the flood arrives incomplete.
 *
 *   npm run bench:hub-memory [-- --flood-mb 200 --hold-seconds 10]
 */
import { measureHubMemory } from './lib/hub-memory-scenario.js';
import { reportRows, type BenchRow } from './lib/results.js';

const MB = 1e6;
const MIB = 1024 * 1024;
const RSS_LIMIT_BYTES = 150 * MIB;

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}

const floodMb = flag('--flood-mb', 200);
const figures = await measureHubMemory({
  floodBytes: floodMb * MB,
  extraHoldMs: flag('--hold-seconds', 10) * 1000,
  subscriptionAttempts: 10_000,
  telemetrySamples: 50,
  rssLimitBytes: RSS_LIMIT_BYTES,
});
const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)} MiB`;
console.log(`hub RSS at rest                                  ${mib(figures.baselineRssBytes)}`);
console.log(
  `${floodMb} MB output flood, client not reading        max RSS ${mib(figures.floodMaxRssBytes)} (anon ${mib(figures.floodMaxRssAnonBytes)})`,
);
console.log(
  `  hub paused the device: ${figures.pushedBack}; received ${figures.floodReceivedBytes} bytes, intact: ${figures.floodIntact}, ${figures.floodSeconds.toFixed(1)} s`,
);
console.log(
  `10,000 subscription attempts, client not reading max RSS ${mib(figures.subscriptionsMaxRssBytes)} (anon ${mib(figures.subscriptionsMaxRssAnonBytes)})`,
);
console.log(`  subscribed ${figures.subscribed}, refused ${figures.refused}`);
const rssRow = (figure: string, bytes: number): BenchRow => ({
  figure,
  unit: 'MiB',
  better: 'lower',
  ours: bytes / MIB,
  floor: figures.baselineRssBytes / MIB,
  floorName: 'hub at rest',
  note: 'limit 150 MiB',
});
reportRows([
  rssRow(
    `hub max RSS, ${floodMb} MB output to a client that does not read`,
    figures.floodMaxRssBytes,
  ),
  rssRow(
    'hub max RSS, 10,000 subscriptions attempted by a client that does not read',
    figures.subscriptionsMaxRssBytes,
  ),
]);
const worst = Math.max(figures.floodMaxRssBytes, figures.subscriptionsMaxRssBytes);
if (worst >= RSS_LIMIT_BYTES || !figures.floodIntact) {
  console.error(
    `FAIL: max RSS ${mib(worst)} (limit 150 MiB), flood intact: ${figures.floodIntact}`,
  );
  process.exitCode = 1;
}
