/**
 * collectd, the peer for sampling cost: Debian's `collectd-core` with only the cpu and memory
 * plugins and a CSV writer into a temporary folder, at a given interval, in the foreground.
 * No network plugin is loaded, so it needs no loopback or other listener.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const COLLECTD_PATH = '/usr/sbin/collectd';

export interface Collectd {
  child: ChildProcess;
  pid: number;
  /**
   * Stops it and says whether it wrote any CSV (a run that wrote nothing measured nothing).
   * Later calls get the first call's answer, so a `finally` may call it again safely.
   */
  stop(): Promise<{ wroteCsv: boolean }>;
}

/** Null when collectd is not installed (`apt-get install collectd-core`). */
export function startCollectd(intervalSeconds: number): Collectd | null {
  if (!existsSync(COLLECTD_PATH)) return null;
  const workdir = mkdtempSync(join(tmpdir(), 'iottly-collectd-'));
  const conf = join(workdir, 'collectd.conf');
  writeFileSync(
    conf,
    [
      'Hostname "bench"',
      'FQDNLookup false',
      `BaseDir "${workdir}"`,
      `PIDFile "${workdir}/collectd.pid"`,
      'PluginDir "/usr/lib/collectd"',
      'TypesDB "/usr/share/collectd/types.db"',
      `Interval ${intervalSeconds}`,
      'LoadPlugin cpu',
      'LoadPlugin memory',
      'LoadPlugin csv',
      '<Plugin cpu>',
      '  ReportByCpu false',
      '  ValuesPercentage true',
      '</Plugin>',
      '<Plugin csv>',
      `  DataDir "${workdir}/csv"`,
      '</Plugin>',
      '',
    ].join('\n'),
  );
  const child = spawn(COLLECTD_PATH, ['-f', '-C', conf], { stdio: 'ignore' });
  let stopped: Promise<{ wroteCsv: boolean }> | null = null;
  const stop = async (): Promise<{ wroteCsv: boolean }> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    const wroteCsv = existsSync(join(workdir, 'csv'));
    rmSync(workdir, { recursive: true, force: true });
    return { wroteCsv };
  };
  return { child, pid: child.pid as number, stop: () => (stopped ??= stop()) };
}
