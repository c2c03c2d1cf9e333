import type {
  BrokerSettings,
  CreateMqttClient,
  FleetConnectionOptions,
} from './fleet-connection.js';

/** What a hub needs to serve a fleet from an MQTT broker (`hub --broker …`). */
export interface FleetSettings extends BrokerSettings {
  /** This hub's instance id (default: `hub-` and 12 random characters, see randomHubId). */
  hubId?: string;
  /** How the MQTT client is made (MQTT.js's `connect` by default). */
  createClient?: CreateMqttClient;
  /** At most one retained cursor per device per this many ms (default CURSOR_INTERVAL_MS). */
  cursorIntervalMs?: number;
  /** How often devices no longer needed stop being read (default READ_SWEEP_MS). */
  readSweepMs?: number;
  /** How long a device this hub sent a frame to stays read at least (default READ_LINGER_MS). */
  readLingerMs?: number;
  /** Back-off and timeouts of the broker connection. */
  connection?: Partial<
    Pick<FleetConnectionOptions, 'backoff' | 'connectTimeoutMs' | 'endTimeoutMs'>
  >;
}
