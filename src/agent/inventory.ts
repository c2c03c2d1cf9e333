import os from 'node:os';

/**
 * What the device is, for `hello`: read once at start-up. The reading itself
 * (system-inventory.ts, with systeminformation) runs in a short-lived child process
 * (`iottly-agent inventory`), so the agent never loads that library: it held about 2.4 MiB
 * of private memory for the life of the process, for fields read once.
 */
export interface Inventory {
  hostname: string;
  os: string;
  kernel: string;
  arch: string;
  model?: string;
  serial?: string;
}

export type InventoryReader = () => Promise<Inventory>;

/** Longest value of an inventory field taken from the child: a hostname is at most 253. */
const MAX_FIELD_CHARS = 256;
const REQUIRED = ['hostname', 'os', 'kernel', 'arch'] as const;
const OPTIONAL = ['model', 'serial'] as const;

/** The fields Node itself knows, used when the full reading fails or takes too long. */
export function basicInventory(): Inventory {
  return {
    hostname: os.hostname(),
    os: `${os.type()} ${os.release()}`,
    kernel: os.release(),
    arch: os.arch(),
  };
}

/**
 * The inventory in the child's output (one JSON object), or null when it is not one: every
 * required field a non-empty string and every field at most MAX_FIELD_CHARS, nothing else kept.
 */
export function parseInventory(text: string): Inventory | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const fields = value as Record<string, unknown>;
  const usable = (v: unknown): v is string =>
    typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD_CHARS;
  if (!REQUIRED.every((key) => usable(fields[key]))) return null;
  const inventory: Inventory = {
    hostname: fields.hostname as string,
    os: fields.os as string,
    kernel: fields.kernel as string,
    arch: fields.arch as string,
  };
  for (const key of OPTIONAL) {
    if (fields[key] === undefined) continue;
    if (!usable(fields[key])) return null;
    inventory[key] = fields[key];
  }
  return inventory;
}
