/**
 * `npm run bench:startup`: how long the x64 single executable takes from exec to `online`
 * against a hub on loopback, and to print its version, against a floor measured in the same
 * run: the very same Node (the pinned official 24.21.0) running the same bundle from a file.
 * Also builds a variant without the V8 code cache, to show what the cache buys.
 * Needs `npm run build:binaries linux-x64` first.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { baseBinary, defaultCacheDir } from '../scripts/binaries/base-binary.js';
import { bundleAgent } from '../scripts/binaries/bundle.js';
import { inject, makeBlob, strip } from '../scripts/binaries/sea.js';
import { TARGETS } from '../scripts/binaries/targets.js';
import { startLocalHub } from '../test/helpers/local-hub.js';
import { STOPPED_BY_CALLER } from '../test/helpers/owner.js';
import { percentile } from './lib/proc-stats.js';
import { reportRows } from './lib/results.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const ROOT = new URL('../', import.meta.url).pathname;
const TOKEN = 'tok-bench';

interface Variant {
  name: string;
  command: string;
  prefix: string[];
}

/** Milliseconds from spawn until a stdout line matches (or the process exits, for `version`). */
function timeTo(
  variant: Variant,
  args: string[],
  env: Record<string, string>,
  until: RegExp | null,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e6;
    const child = spawn(variant.command, [...variant.prefix, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (until === null) {
      child.once('exit', (code) =>
        code === 0 ? resolve(elapsed()) : reject(new Error(`${variant.name} exited ${code}`)),
      );
      return;
    }
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!until.test(line)) return;
      const ms = elapsed();
      child.kill('SIGKILL');
      resolve(ms);
    });
    child.once('exit', () => reject(new Error(`${variant.name} exited before matching ${until}`)));
  });
}

const median = (xs: number[]): number => percentile(xs, 50);
const p90 = (xs: number[]): number => percentile(xs, 90);

async function main(): Promise<void> {
  const target = TARGETS.find((t) => t.name === 'linux-x64')!;
  const sea = join(ROOT, 'release', 'iottly-agent-linux-x64');
  if (!existsSync(sea))
    throw new Error(`${sea} is missing: run npm run build:binaries linux-x64 first`);
  const work = mkdtempSync(join(tmpdir(), 'bench-startup-'));
  const { hub, deviceUrl } = await startLocalHub(STOPPED_BY_CALLER, 'bench-1', TOKEN);
  try {
    const node = await baseBinary(target, defaultCacheDir());
    const bundle = join(work, 'agent.cjs');
    await bundleAgent(join(ROOT, 'src', 'cli.ts'), bundle);
    const noCache = join(work, 'iottly-agent-no-code-cache');
    strip(node, noCache);
    inject(noCache, makeBlob(target, node, bundle, work, { useCodeCache: false }));
    const variants: Variant[] = [
      { name: `floor: node ${target.nodeVersion} + bundle file`, command: node, prefix: [bundle] },
      { name: 'SEA, no code cache', command: noCache, prefix: [] },
      { name: 'SEA + code cache (shipped)', command: sea, prefix: [] },
    ];
    const env = {
      IOTTLY_SERVER_URL: deviceUrl,
      IOTTLY_DEVICE_ID: 'bench-1',
      IOTTLY_AUTH_TOKEN: TOKEN,
    };
    const online: number[][] = variants.map(() => []);
    const version: number[][] = variants.map(() => []);
    for (let run = 0; run < RUNS; run++) {
      // Interleaved, so drift in machine load hits every variant alike.
      for (const [i, variant] of variants.entries()) {
        version[i]!.push(await timeTo(variant, ['version'], {}, null));
        online[i]!.push(await timeTo(variant, ['run'], env, /"kind":"online"/));
      }
    }
    const floorOnline = median(online[0]!);
    const floorVersion = median(version[0]!);
    process.stdout.write(
      `start-up, ${RUNS} runs each (median / p90 ms; ratio of medians to the floor)\n`,
    );
    process.stdout.write(
      '| variant | exec → online | ratio | exec → version printed | ratio |\n| --- | --- | --- | --- | --- |\n',
    );
    for (const [i, variant] of variants.entries()) {
      const o = online[i]!;
      const v = version[i]!;
      process.stdout.write(
        `| ${variant.name} | ${median(o).toFixed(0)} / ${p90(o).toFixed(0)} | ${(median(o) / floorOnline).toFixed(2)} | ${median(v).toFixed(0)} / ${p90(v).toFixed(0)} | ${(median(v) / floorVersion).toFixed(2)} |\n`,
      );
    }
    const shipped = variants.length - 1;
    reportRows([
      {
        figure: 'start → connected, x64 single binary (median)',
        unit: 'ms',
        better: 'lower',
        ours: median(online[shipped]!),
        floor: floorOnline,
        floorName: `node ${target.nodeVersion} running the same bundle file`,
        note: `p90 ${p90(online[shipped]!).toFixed(0)} ms; without code cache ${median(online[1]!).toFixed(0)} ms`,
      },
    ]);
  } finally {
    await hub.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:startup: ${(err as Error).message}\n`);
  process.exit(1);
});
