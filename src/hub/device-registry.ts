import type { DeviceSummary } from '../protocol/device-summary.js';
import type { HelloPayload } from '../protocol/to-hub.js';
import type { Clock } from '../time/clock.js';

export type { DeviceSummary };
import type { UpdateStateView } from '../protocol/updates.js';

export interface DeviceRecord extends Omit<DeviceSummary, 'update'> {
  /** The last `hello` (hostname, os, kernel, arch, model, capabilities, …), kept for later use. */
  hello: HelloPayload | null;
}

interface Entry<L> {
  link: L | null;
  ready: boolean;
  connectedSince: number | null;
  lastSeen: number | null;
  hello: HelloPayload | null;
}

/**
 * Every device the hub knows (those with a token, plus any that ever connected), with its
 * current link. At most one link per device: attaching a new one hands back the one it
 * replaces, for the caller to close. A device is `connected` from its `hello` until its link
 * closes or is replaced.
 */
export class DeviceRegistry<L extends { readonly deviceId: string }> {
  readonly #entries = new Map<string, Entry<L>>();
  readonly #clock: Clock;

  constructor(knownDeviceIds: Iterable<string>, clock: Clock) {
    this.#clock = clock;
    for (const id of knownDeviceIds) this.#entry(id);
  }

  isKnown(deviceId: string): boolean {
    return this.#entries.has(deviceId);
  }

  /**
   * Knows the device from elsewhere than a link (an MQTT broker's retained presence), with the
   * hello it last gave when there is one.
   */
  remember(deviceId: string, hello: HelloPayload | null): void {
    const entry = this.#entry(deviceId);
    if (hello) entry.hello = hello;
  }

  /** An online device's connection time as the device itself gives it (an MQTT presence). */
  connectedSince(deviceId: string, atMs: number): void {
    const entry = this.#entries.get(deviceId);
    if (entry?.ready && Number.isFinite(atMs)) entry.connectedSince = atMs;
  }

  /** Makes `link` the device's link; returns the link it replaces, if any. */
  attach(link: L): L | null {
    const entry = this.#entry(link.deviceId);
    const previous = entry.link;
    entry.link = link;
    entry.ready = false;
    entry.connectedSince = null;
    entry.lastSeen = this.#nowMs();
    return previous;
  }

  /** The link said hello: the device is online. Ignored for a link that was replaced. */
  markReady(link: L, hello: HelloPayload): void {
    const entry = this.#entries.get(link.deviceId);
    if (!entry || entry.link !== link) return;
    if (!entry.ready) entry.connectedSince = this.#nowMs();
    entry.ready = true;
    entry.hello = hello;
    entry.lastSeen = this.#nowMs();
  }

  touch(link: L): void {
    const entry = this.#entries.get(link.deviceId);
    if (entry) entry.lastSeen = this.#nowMs();
  }

  /** The link closed; true when it was the device's current link (the device is now offline). */
  detach(link: L): boolean {
    const entry = this.#entries.get(link.deviceId);
    if (!entry || entry.link !== link) return false;
    entry.link = null;
    entry.ready = false;
    entry.connectedSince = null;
    return true;
  }

  /** The device's link if it has said hello, else null. */
  onlineLink(deviceId: string): L | null {
    const entry = this.#entries.get(deviceId);
    return entry?.ready ? entry.link : null;
  }

  record(deviceId: string): DeviceRecord | undefined {
    const entry = this.#entries.get(deviceId);
    return entry ? toRecord(deviceId, entry) : undefined;
  }

  /** Every known device, ordered by id. */
  records(): DeviceRecord[] {
    return [...this.#entries.keys()]
      .sort()
      .map((id) => toRecord(id, this.#entries.get(id) as Entry<L>));
  }

  #entry(deviceId: string): Entry<L> {
    let entry = this.#entries.get(deviceId);
    if (!entry) {
      entry = { link: null, ready: false, connectedSince: null, lastSeen: null, hello: null };
      this.#entries.set(deviceId, entry);
    }
    return entry;
  }

  #nowMs(): number {
    return this.#clock.date().getTime();
  }
}

function toRecord<L>(deviceId: string, entry: Entry<L>): DeviceRecord {
  return {
    device_id: deviceId,
    connected: entry.ready,
    connected_since: iso(entry.connectedSince),
    last_seen: iso(entry.lastSeen),
    agent_version: entry.hello?.agent_version ?? null,
    hostname: entry.hello?.hostname ?? null,
    os: entry.hello?.os ?? null,
    kernel: entry.hello?.kernel ?? null,
    arch: entry.hello?.arch ?? null,
    model: entry.hello?.model ?? null,
    capabilities: entry.hello?.capabilities ?? [],
    hello: entry.hello,
  };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** The public view of a device (GET /v1/devices): the summary fields, and its last update. */
export function summary(
  record: DeviceRecord,
  update: UpdateStateView | null = null,
): DeviceSummary {
  const { device_id, connected, connected_since, last_seen, agent_version } = record;
  const { hostname, os, kernel, arch, model, capabilities } = record;
  return {
    device_id,
    connected,
    connected_since,
    last_seen,
    agent_version,
    hostname,
    os,
    kernel,
    arch,
    model,
    capabilities,
    update,
  };
}
