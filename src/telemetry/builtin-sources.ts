import { join } from 'node:path';
import type { Clock } from '../time/clock.js';
import { CpuSource } from './sources/cpu-source.js';
import { DiskSource, type StatFs } from './sources/disk-source.js';
import { MemorySource } from './sources/memory-source.js';
import { NetworkSource } from './sources/network-source.js';
import { NumberFileSource } from './sources/number-file-source.js';
import { findThermalSensor } from './sources/thermal-sensor.js';
import type { BuiltinStream } from '../protocol/stream-names.js';
import { probe, type Probe, type SystemRoots } from './stream-source.js';

/**
 * Probes every built-in stream on this device: a source for each one it can provide, a reason
 * for each it cannot. Everything comes from the injected roots (and statfs), so tests run the
 * same code against fixture trees.
 */
export interface BuiltinOptions extends SystemRoots {
  thermalZone: string;
  diskPath: string;
  networkInterfaces: readonly string[];
  clock: Clock;
  statfs?: StatFs;
}

const MILLIDEGREES = 0.001;

export function probeBuiltins(options: BuiltinOptions): Map<BuiltinStream, Probe> {
  const { procRoot, sysRoot } = options;
  const network = (direction: 'rx' | 'tx') => () =>
    new NetworkSource({
      direction,
      procRoot,
      interfaces: options.networkInterfaces,
      now: () => options.clock.now(),
    });
  const probes: [BuiltinStream, () => Probe][] = [
    ['cpu', () => probe(() => new CpuSource(procRoot))],
    ['memory', () => probe(() => new MemorySource(procRoot))],
    [
      'temperature',
      () => {
        const choice = findThermalSensor(sysRoot, options.thermalZone);
        if (!choice.ok) return choice;
        const found = probe(
          () => new NumberFileSource('temperature', choice.sensor.path, MILLIDEGREES),
        );
        return found.ok ? { ...found, detail: choice.sensor.label } : found;
      },
    ],
    ['load', () => probe(() => new NumberFileSource('load', join(procRoot, 'loadavg')))],
    ['disk', () => probe(() => new DiskSource(options.diskPath, options.statfs))],
    ['network.rx', () => probe(network('rx'))],
    ['network.tx', () => probe(network('tx'))],
    ['uptime', () => probe(() => new NumberFileSource('uptime', join(procRoot, 'uptime')))],
  ];
  return new Map(probes.map(([name, run]) => [name, run()]));
}
