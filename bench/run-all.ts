/**
 * `npm run bench`: every benchmark in turn, then one table of figure, ours, the floor measured
 * in the same run, the ratio to it, and the peer where one is installed. Also written as JSON
 * to bench/results/latest.json.
 *
 * Each benchmark runs as a process of its own (nothing warmed up or leaked by one skews the
 * next) with `BENCH_RESULTS` naming a file it appends its rows to (bench/lib/results.ts); its
 * own detailed report still goes to the terminal. The peers come from Debian: collectd-core,
 * and openssh-server for ssh; when run as root with apt at hand and they are missing, this
 * installs them first, otherwise their columns say why they are empty. The x64 single binary
 * is built first if it is missing (for the start-up row).
 *
 * The soak (`npm run soak`) is not among them: it takes as many minutes as it is asked to.
 *
 *   npm run bench [-- --only idle,commands]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timesFloor, type BenchRow } from './lib/results.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results', 'latest.json');

interface Bench {
  name: string;
  file: string;
  args?: string[];
  nodeFlags?: string[];
  /** What must exist first, and how to make it. */
  needs?: { path: string; build: string[] };
}

const BENCHES: Bench[] = [
  { name: 'telemetry', file: 'telemetry.ts', args: ['--seconds', '30'] },
  { name: 'idle', file: 'idle.ts', args: ['--seconds', '60'] },
  { name: 'commands', file: 'commands.bench.ts' },
  // Keystroke echo in a shell session beside ssh -tt.
  { name: 'shell', file: 'shell.bench.ts' },
  // TCP port forwarding: MB/s, connection set-up and agent CPU beside ssh -L.
  { name: 'forward', file: 'forward.bench.ts' },
  // iottly-agent cp each way beside scp, with the agent's CPU per 100 MB.
  { name: 'files', file: 'files.bench.ts' },
  { name: 'spool', file: 'spool.ts' },
  // Bytes written, fsyncs and renames per hour: memory first beside write before send.
  { name: 'flash', file: 'flash.ts', args: ['--seconds', '60'] },
  {
    name: 'startup',
    file: 'startup.ts',
    needs: {
      path: join(ROOT, 'release', 'iottly-agent-linux-x64'),
      build: ['run', 'build:binaries', '--', 'linux-x64'],
    },
  },
  { name: 'local-socket', file: 'local-socket.ts', nodeFlags: ['--expose-gc'] },
  { name: 'webhooks', file: 'webhooks.ts' },
  { name: 'hub-memory', file: 'hub-memory.ts' },
  // The console in chromium with 10,000 devices: script time of the first render and a search.
  { name: 'console-fleet', file: 'console-fleet.ts' },
  // One fleet size, for hub CPU and delivery delay; `npm run fleet -- --find-max` finds the largest.
  { name: 'fleet', file: 'fleet.ts', args: ['--agents', '1000', '--seconds', '20'] },
  // The same fleet over MQTT 5: a mosquitto, two hubs on it, with the broker's CPU and memory.
  {
    name: 'fleet-mqtt',
    file: 'fleet.ts',
    args: ['--transport', 'mqtt', '--hubs', '2', '--agents', '1000', '--seconds', '20'],
  },
];

/** Debian packages of the peers, keyed by the file that shows each is installed. */
const PEER_PACKAGES = new Map([
  ['/usr/sbin/collectd', 'collectd-core'],
  ['/usr/sbin/sshd', 'openssh-server'],
  ['/usr/bin/ssh', 'openssh-client'],
]);

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env });
  return result.status ?? 1;
}

function installPeers(): void {
  const missing = [...PEER_PACKAGES].filter(([path]) => !existsSync(path)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    console.log(`peers not installed (${missing.join(', ')}): not root or no apt-get`);
    return;
  }
  console.log(`installing the peers from apt: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], env);
  if (run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], env) !== 0)
    console.log('apt-get install failed: the peer columns will say "not installed"');
}

function selected(): Bench[] {
  const at = process.argv.indexOf('--only');
  if (at < 0) return BENCHES;
  const names = new Set((process.argv[at + 1] ?? '').split(','));
  return BENCHES.filter((bench) => names.has(bench.name));
}

interface BenchOutcome {
  name: string;
  status: number;
  seconds: number;
  rows: BenchRow[];
}

function runBench(bench: Bench, rowsFile: string): BenchOutcome {
  console.log(`\n━━ bench:${bench.name} ━━`);
  if (bench.needs && !existsSync(bench.needs.path)) run('npm', bench.needs.build);
  writeFileSync(rowsFile, '');
  const started = performance.now();
  const status = run(
    process.execPath,
    [
      ...(bench.nodeFlags ?? []),
      '--import',
      'tsx',
      join('bench', bench.file),
      ...(bench.args ?? []),
    ],
    { ...process.env, BENCH_RESULTS: rowsFile },
  );
  const rows = readFileSync(rowsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as BenchRow);
  return { name: bench.name, status, seconds: (performance.now() - started) / 1000, rows };
}

/** Three significant digits, which is more than this machine's noise justifies. */
function figure(value: number | null): string {
  if (value === null) return '—';
  if (value === 0) return '0';
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(value))));
  return value.toLocaleString('en-US', { maximumFractionDigits: Math.min(digits, 3) });
}

function table(outcomes: BenchOutcome[]): string {
  const lines = [
    '| figure | unit | ours | floor (same run) | × floor | peer |',
    '| --- | --- | ---: | --- | ---: | --- |',
  ];
  for (const outcome of outcomes) {
    if (outcome.status !== 0)
      lines.push(`| bench:${outcome.name} FAILED (exit ${outcome.status}) | | | | | |`);
    for (const row of outcome.rows) {
      const ratio = timesFloor(row);
      const floor = row.floor === null ? row.floorName : `${figure(row.floor)} (${row.floorName})`;
      const peer = row.peer
        ? row.peer.value === null
          ? `${row.peer.name}: ${row.peer.note ?? 'not run'}`
          : `${row.peer.name}: ${figure(row.peer.value)}`
        : '';
      lines.push(
        `| ${row.figure} | ${row.unit} | ${figure(row.ours)} | ${floor} | ${ratio === null ? '' : `${ratio.toFixed(2)}×`} | ${peer} |`,
      );
    }
  }
  return lines.join('\n');
}

function main(): void {
  installPeers();
  if (run('npm', ['run', 'build', '--silent']) !== 0) throw new Error('npm run build failed');
  const scratch = mkdtempSync(join(tmpdir(), 'bench-rows-'));
  const outcomes = selected().map((bench) => runBench(bench, join(scratch, `${bench.name}.jsonl`)));
  rmSync(scratch, { recursive: true, force: true });

  console.log(
    `\n━━ results (${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${loadavg()[0]?.toFixed(1)}) ━━\n`,
  );
  console.log(table(outcomes));
  console.log(
    '\n× floor: how many times the floor measured in the same run (cost ÷ floor, or floor ÷ rate),\nso 1.00× is as good as the floor and 2.00× twice as costly or half as fast.',
  );
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(
    RESULTS,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, loadavg: loadavg() },
        node: process.version,
        benches: outcomes.map(({ name, status, seconds, rows }) => ({
          name,
          status,
          seconds: Math.round(seconds),
          rows: rows.map((row) => ({ ...row, timesFloor: timesFloor(row) })),
        })),
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwritten to ${RESULTS}`);
  const failed = outcomes.filter((outcome) => outcome.status !== 0 || outcome.rows.length === 0);
  if (failed.length > 0) {
    console.error(`failed: ${failed.map((outcome) => outcome.name).join(', ')}`);
    process.exitCode = 1;
  }
}

main();
