import { TOPIC_PREFIX, deviceTopic } from '../protocol/mqtt-topics.js';

/**
 * Who may use which topics on a broker shared by agents and hubs (docs/protocol.md, "Access
 * control"), independent of any one broker's file format: a device publishes only its own `up`
 * and `presence` and subscribes only to its own `down`; a hub publishes and subscribes under the
 * whole prefix. A device's grants name it by a placeholder its broker fills in (mosquitto's `%u`,
 * EMQX's `${username}`), since the username is the device id.
 */
export type TopicAccess = 'read' | 'write' | 'readwrite';

export interface TopicGrant {
  topic: string;
  access: TopicAccess;
}

export function deviceGrants(ownId: string): TopicGrant[] {
  return [
    { topic: deviceTopic(ownId, 'up'), access: 'write' },
    { topic: deviceTopic(ownId, 'presence'), access: 'write' },
    { topic: deviceTopic(ownId, 'down'), access: 'read' },
  ];
}

export const HUB_GRANTS: readonly TopicGrant[] = [
  { topic: `${TOPIC_PREFIX}/#`, access: 'readwrite' },
];
