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
  /** Back-off and timeouts of the broker connection. */
  connection?: Partial<
    Pick<FleetConnectionOptions, 'backoff' | 'connectTimeoutMs' | 'endTimeoutMs'>
  >;
}
