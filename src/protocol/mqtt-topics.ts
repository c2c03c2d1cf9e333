import { DEVICE_ID_PATTERN } from './fields.js';

/**
 * The MQTT topic scheme (docs/protocol.md, "MQTT 5 transport"): one prefix, one subtree per
 * device and one per hub. Both sides build and read topics here only.
 */
export const TOPIC_PREFIX = 'iottly/v1';

/** What a device-subtree topic carries. */
export type DeviceTopicKind = 'up' | 'down' | 'presence' | 'cursor';

export const deviceTopic = (deviceId: string, kind: DeviceTopicKind): string =>
  `${TOPIC_PREFIX}/devices/${deviceId}/${kind}`;

/** Filters a hub subscribes to: one kind of topic for every device. */
export const everyDevice = (kind: DeviceTopicKind): string => `${TOPIC_PREFIX}/devices/+/${kind}`;

export const hubTopic = (hubId: string): string => `${TOPIC_PREFIX}/hubs/${hubId}`;

export const hubWantsTopic = (hubId: string, deviceId: string): string =>
  `${TOPIC_PREFIX}/hubs/${hubId}/wants/${deviceId}`;

/** Every hub's presence and wants. */
export const EVERY_HUB = `${TOPIC_PREFIX}/hubs/#`;

export const WEBHOOKS_TOPIC = `${TOPIC_PREFIX}/fleet/webhooks`;

export type ParsedTopic =
  | { kind: DeviceTopicKind; deviceId: string }
  | { kind: 'hub'; hubId: string }
  | { kind: 'wants'; hubId: string; deviceId: string }
  | { kind: 'webhooks' };

const HUB_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const DEVICE_KINDS: ReadonlySet<string> = new Set(['up', 'down', 'presence', 'cursor']);

/** Reads a topic of the scheme; null for anything else (another system's topic, a bad id). */
export function parseTopic(topic: string): ParsedTopic | null {
  if (topic === WEBHOOKS_TOPIC) return { kind: 'webhooks' };
  const parts = topic.split('/');
  if (parts[0] !== 'iottly' || parts[1] !== 'v1') return null;
  const [, , area, id, kind, deviceId] = parts;
  if (area === 'devices' && parts.length === 5 && id !== undefined && kind !== undefined) {
    if (!DEVICE_ID_PATTERN.test(id) || !DEVICE_KINDS.has(kind)) return null;
    return { kind: kind as DeviceTopicKind, deviceId: id };
  }
  if (area === 'hubs' && id !== undefined && HUB_ID_PATTERN.test(id)) {
    if (parts.length === 4) return { kind: 'hub', hubId: id };
    if (parts.length === 6 && kind === 'wants' && deviceId !== undefined)
      return DEVICE_ID_PATTERN.test(deviceId) ? { kind: 'wants', hubId: id, deviceId } : null;
  }
  return null;
}

/** The presence a device keeps retained (and its will, with `online: false`). */
export interface DevicePresence {
  online: boolean;
  /** When the agent connected (online) or when the will was set (offline). */
  since: string;
  /** The agent's hello payload at that connect. */
  hello: Record<string, unknown>;
}
