import { pino } from 'pino';
import { Hub } from '../../src/hub/hub.js';
import type { Owner } from './owner.js';

/**
 * The reference hub on 127.0.0.1, a free port, one device, silent: what most agent tests dial.
 * It is stopped when `owner` (the test) ends; `hub.stop()` is idempotent.
 */
export interface LocalHub {
  hub: Hub;
  /** http:// base, for REST. */
  url: string;
  /** ws:// device endpoint for IOTTLY_SERVER_URL. */
  deviceUrl: string;
}

export async function startLocalHub(
  owner: Owner,
  deviceId: string,
  token: string,
  apiKey = 'key1',
): Promise<LocalHub> {
  const hub = new Hub({
    host: '127.0.0.1',
    port: 0,
    apiKeys: [apiKey],
    deviceTokens: new Map([[deviceId, token]]),
    logger: pino({ level: 'silent' }),
  });
  owner.after(() => hub.stop());
  const { url } = await hub.start();
  return { hub, url, deviceUrl: `${url.replace(/^http/, 'ws')}/v1/device` };
}
