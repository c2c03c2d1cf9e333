import type { Device } from './devices.js';

/** Which devices the list shows by connection state. */
export type StatusFilter = 'all' | 'online' | 'offline';

export const STATUS_FILTERS: readonly StatusFilter[] = ['all', 'online', 'offline'];

export interface DeviceCounts {
  total: number;
  online: number;
  offline: number;
  /** Devices that pass both the search and the status filter: the rows of the list. */
  matching: number;
}

export interface FilteredDevices {
  /** In the order given (the hub lists them by id). */
  matches: Device[];
  counts: DeviceCounts;
}

/**
 * The devices whose id contains `query` (case-insensitive; blank matches all) and whose state
 * passes `status`, with the counts the list heads. One pass over the list: at 10,000 devices it
 * runs on every keystroke and every poll.
 */
export function filterDevices(
  devices: readonly Device[],
  query: string,
  status: StatusFilter,
): FilteredDevices {
  const needle = query.trim().toLowerCase();
  const matches: Device[] = [];
  let online = 0;
  for (const device of devices) {
    if (device.connected) online++;
    if (status === 'online' && !device.connected) continue;
    if (status === 'offline' && device.connected) continue;
    if (needle !== '' && !device.device_id.toLowerCase().includes(needle)) continue;
    matches.push(device);
  }
  return {
    matches,
    counts: {
      total: devices.length,
      online,
      offline: devices.length - online,
      matching: matches.length,
    },
  };
}

export function isStatusFilter(value: string | undefined): value is StatusFilter {
  return (STATUS_FILTERS as readonly string[]).includes(value ?? '');
}
