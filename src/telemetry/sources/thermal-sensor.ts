import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Finds the file that holds the SoC/CPU temperature (millidegrees Celsius):
 *
 * 1. `/sys/class/thermal/thermal_zone*` — the zone named by config (its directory name such as
 *    `thermal_zone1`, or its `type` such as `x86_pkg_temp`), else the first zone whose type
 *    says CPU or SoC (`cpu-thermal` on a Raspberry Pi, `x86_pkg_temp` on Intel, …), else the
 *    first zone that reads;
 * 2. `/sys/class/hwmon/hwmon*` as the fallback (`coretemp`, `k10temp`, `cpu_thermal`, …), for
 *    boards and VMs without thermal zones.
 *
 * Zones that are disabled fail to read (ENODATA, EINVAL) and are passed over.
 */
export interface ThermalSensor {
  /** The file to read: `…/temp` or `…/temp1_input`. */
  path: string;
  /** What was chosen, for the log: `thermal_zone0 (cpu-thermal)`. */
  label: string;
}

const CPU_ZONE_TYPE = /cpu|soc|x86_pkg_temp|pkg_temp|coretemp|k10temp|tcpu|bcm2835/i;
const CPU_HWMON_NAME = /coretemp|k10temp|zenpower|cpu|soc/i;

export type SensorChoice = { ok: true; sensor: ThermalSensor } | { ok: false; reason: string };

export function findThermalSensor(sysRoot: string, zone: string): SensorChoice {
  const zonesDir = join(sysRoot, 'class', 'thermal');
  const zones = numbered(zonesDir, 'thermal_zone').map((dir) => ({
    dir,
    type: readTrimmed(join(zonesDir, dir, 'type')) ?? '',
    path: join(zonesDir, dir, 'temp'),
  }));
  if (zone !== '') {
    const named = zones.find((z) => z.dir === zone || z.type === zone);
    if (!named) {
      const found = zones.map((z) => `${z.dir} (${z.type})`).join(', ') || 'none';
      return { ok: false, reason: `no thermal zone "${zone}" under ${zonesDir} (found: ${found})` };
    }
    if (!readable(named.path))
      return { ok: false, reason: `thermal zone ${named.dir} (${named.type}) cannot be read` };
    return { ok: true, sensor: { path: named.path, label: `${named.dir} (${named.type})` } };
  }
  const usable = zones.filter((z) => readable(z.path));
  const zoneChoice = usable.find((z) => CPU_ZONE_TYPE.test(z.type)) ?? usable[0];
  if (zoneChoice) {
    return {
      ok: true,
      sensor: { path: zoneChoice.path, label: `${zoneChoice.dir} (${zoneChoice.type})` },
    };
  }

  const hwmonDir = join(sysRoot, 'class', 'hwmon');
  const chips = numbered(hwmonDir, 'hwmon')
    .map((dir) => ({
      dir,
      name: readTrimmed(join(hwmonDir, dir, 'name')) ?? '',
      path: join(hwmonDir, dir, 'temp1_input'),
    }))
    .filter((c) => readable(c.path));
  const chip = chips.find((c) => CPU_HWMON_NAME.test(c.name)) ?? chips[0];
  if (chip) return { ok: true, sensor: { path: chip.path, label: `${chip.dir} (${chip.name})` } };
  return {
    ok: false,
    reason: `no readable thermal zone under ${zonesDir} and no hwmon temperature under ${hwmonDir}`,
  };
}

/** `thermal_zone0`, `thermal_zone1`, … `thermal_zone10`, in numeric order. */
function numbered(dir: string, prefix: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)));
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1').trim();
  } catch {
    return undefined;
  }
}

function readable(path: string): boolean {
  const text = readTrimmed(path);
  return text !== undefined && !Number.isNaN(parseFloat(text));
}
