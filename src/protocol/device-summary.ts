import type { UpdateStateView } from './updates.js';

/**
 * One device as `GET /v1/devices` lists it (docs/protocol.md). A plain type with no imports, so
 * the hub and the browser console share it.
 */
export interface DeviceSummary {
  device_id: string;
  connected: boolean;
  /** ISO-8601 UTC, or null when offline. */
  connected_since: string | null;
  /** ISO-8601 UTC of the last traffic of any kind, or null if it never connected. */
  last_seen: string | null;
  agent_version: string | null;
  /** From the last `hello` (null before the first): what a console shows about the device. */
  hostname: string | null;
  os: string | null;
  kernel: string | null;
  arch: string | null;
  model: string | null;
  /** `telemetry:<stream>` for each stream it offers, `commands`, … ([] before the first hello). */
  capabilities: string[];
  /**
   * The device's last agent update asked through this hub (null: none since the hub started;
   * absent from hubs before updates).
   */
  update?: UpdateStateView | null;
}
