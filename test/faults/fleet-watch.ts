import { createHash } from 'node:crypto';
import { connect, type MqttClient } from 'mqtt';
import { EVERY_HUB, everyDevice, parseTopic } from '../../src/protocol/mqtt-topics.js';
import type { Owner } from '../helpers/owner.js';
import { Waiters } from './waiters.js';

/**
 * A bystander on the broker (docs/protocol.md, "MQTT 5 transport"): which hubs are present, and
 * every presence message of the devices, so a test sees the will mark one offline. Disconnected
 * when its owner (the test) ends.
 */

/** Payloads here are small JSON objects; anything larger is not the scheme's. */
const MAX_PAYLOAD_BYTES = 65_536;

export class FleetWatch {
  /** Hub ids whose presence is retained now, in the order they appeared. */
  readonly hubs = new Set<string>();
  /** Every presence message, in order of arrival. */
  readonly presence: Array<{ deviceId: string; online: boolean }> = [];
  readonly #client: MqttClient;
  readonly #waiters = new Waiters();

  private constructor(client: MqttClient) {
    this.#client = client;
  }

  static async start(owner: Owner, brokerUrl: string): Promise<FleetWatch> {
    const client = connect(brokerUrl, {
      protocolVersion: 5,
      clean: true,
      clientId: `fleet-watch-${process.pid}-${Date.now()}`,
      reconnectPeriod: 200,
    });
    const watch = new FleetWatch(client);
    owner.after(() => watch.close());
    client.on('message', (topic, payload) => watch.#take(topic, payload));
    client.on('error', () => {}); // reconnects by itself while the broker is away
    await client.subscribeAsync([EVERY_HUB, everyDevice('presence')], { qos: 1 });
    return watch;
  }

  /** The device's owner among the present hubs: the highest sha256(hub + "/" + id). */
  ownerOf(deviceId: string): string {
    const score = (hub: string) => createHash('sha256').update(`${hub}/${deviceId}`).digest('hex');
    const [first, ...rest] = [...this.hubs];
    if (first === undefined) throw new Error('no hub is present');
    return rest.reduce((best, hub) => (score(hub) > score(best) ? hub : best), first);
  }

  /** The last presence of the device: true online, false offline, null never seen. */
  online(deviceId: string): boolean | null {
    return this.presence.findLast((p) => p.deviceId === deviceId)?.online ?? null;
  }

  /** Resolves once `check()` holds after some message (or already). */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.#waiters.until(check, timeoutMs, () => what);
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true);
  }

  #take(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed || payload.length > MAX_PAYLOAD_BYTES) return;
    const body = readJson(payload);
    if (parsed.kind === 'hub') {
      if (body?.online === true) this.hubs.add(parsed.hubId);
      else this.hubs.delete(parsed.hubId); // the will, or a stop, cleared it
    } else if (parsed.kind === 'presence' && body) {
      this.presence.push({ deviceId: parsed.deviceId, online: body.online === true });
    }
    this.#waiters.notify();
  }
}

function readJson(payload: Buffer): Record<string, unknown> | null {
  if (payload.length === 0) return null;
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
