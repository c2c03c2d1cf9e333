import si from 'systeminformation';
import { basicInventory, type Inventory } from './inventory.js';

const UNKNOWN = new Set([
  '',
  '-',
  'Default string',
  'To Be Filled By O.E.M.',
  'System Serial Number',
]);

/**
 * The full inventory, with systeminformation: it spawns helpers (dmidecode, cat
 * /proc/cpuinfo, …), fine once and never on a per-sample path. Only `iottly-agent inventory`
 * loads this file, in a child process the agent starts once (inventory.ts says why). Bounded
 * by a timeout so a hung helper cannot delay the connection; on timeout or error the fields
 * Node itself knows are used.
 */
export async function readSystemInventory(timeoutMs = 5_000): Promise<Inventory> {
  const fallback = basicInventory();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    const found = await Promise.race([Promise.all([si.osInfo(), si.system()]), timeout]);
    if (!found) return fallback;
    const [osInfo, system] = found;
    const inventory: Inventory = {
      hostname: osInfo.hostname || fallback.hostname,
      os: [osInfo.distro, osInfo.release].filter(Boolean).join(' ') || fallback.os,
      kernel: osInfo.kernel || fallback.kernel,
      arch: osInfo.arch || fallback.arch,
    };
    const model = [system.manufacturer, system.model].filter((v) => !UNKNOWN.has(v)).join(' ');
    if (model) inventory.model = model;
    if (!UNKNOWN.has(system.serial)) inventory.serial = system.serial;
    return inventory;
  } catch {
    return fallback;
  } finally {
    clearTimeout(timer);
  }
}
