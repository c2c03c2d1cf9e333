import type { DeviceSummary } from '../protocol/device-summary.js';
import { BUILTIN_STREAMS } from '../protocol/stream-names.js';

/** The device list as `GET /v1/devices` gives it (docs/protocol.md), checked field by field. */
export type Device = DeviceSummary;

/** Streams watched when a device lists none (an older agent). */
export const DEFAULT_STREAMS = ['cpu', 'memory', 'temperature'];
/** Built-in streams first, in the agent's order; the rest follow by name. */
const PREFERRED_ORDER: readonly string[] = BUILTIN_STREAMS;

export function parseDevices(body: unknown): Device[] {
  if (!Array.isArray(body)) return [];
  return body.flatMap((item: unknown) => {
    if (typeof item !== 'object' || item === null) return [];
    const d = item as Record<string, unknown>;
    if (typeof d['device_id'] !== 'string') return [];
    const text = (key: string): string | null =>
      typeof d[key] === 'string' ? (d[key] as string) : null;
    const capabilities = Array.isArray(d['capabilities'])
      ? d['capabilities'].filter((c): c is string => typeof c === 'string')
      : [];
    return [
      {
        device_id: d['device_id'],
        connected: d['connected'] === true,
        connected_since: text('connected_since'),
        last_seen: text('last_seen'),
        agent_version: text('agent_version'),
        hostname: text('hostname'),
        os: text('os'),
        kernel: text('kernel'),
        arch: text('arch'),
        model: text('model'),
        capabilities,
        update: parseUpdate(d['update']),
      },
    ];
  });
}

/** A device's last update as the hub lists it; null when absent or not of the right shape. */
function parseUpdate(value: unknown): Device['update'] {
  if (typeof value !== 'object' || value === null) return null;
  const u = value as Record<string, unknown>;
  if (typeof u['version'] !== 'string' || typeof u['state'] !== 'string') return null;
  const count = (key: string): number => (typeof u[key] === 'number' ? (u[key] as number) : 0);
  const text = (key: string): string | null =>
    typeof u[key] === 'string' ? (u[key] as string) : null;
  return {
    device_id: typeof u['device_id'] === 'string' ? u['device_id'] : '',
    version: u['version'],
    arch: text('arch') ?? '',
    state: u['state'] as NonNullable<Device['update']>['state'],
    bytes: count('bytes'),
    size: count('size'),
    cause: text('cause'),
    code: text('code'),
    updated_at: text('updated_at') ?? '',
  };
}

/** What an agent lists in `hello` while it accepts shell sessions (docs/protocol.md). */
export const SHELL_CAPABILITY = 'shell';

/** Whether the device takes shell sessions now (an older agent, or shells turned off: no). */
export function offersShell(device: Device): boolean {
  return device.capabilities.includes(SHELL_CAPABILITY);
}

/** The telemetry streams a device announces (`telemetry:<name>`), in display order. */
export function offeredStreams(device: Device): string[] {
  const names = device.capabilities
    .filter((c) => c.startsWith('telemetry:'))
    .map((c) => c.slice('telemetry:'.length))
    .filter((name) => /^[A-Za-z0-9._-]{1,64}$/.test(name));
  const streams = names.length > 0 ? [...new Set(names)] : DEFAULT_STREAMS;
  const rank = (name: string): number => {
    const i = PREFERRED_ORDER.indexOf(name);
    return i < 0 ? PREFERRED_ORDER.length : i;
  };
  return streams.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** "just now", "42 s ago", "3 min ago", "2 h ago", "5 d ago". */
export function ago(iso: string | null, nowMs: number): string {
  if (iso === null) return 'never';
  const seconds = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return 'unknown';
  if (seconds < 2) return 'just now';
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} d ago`;
}
