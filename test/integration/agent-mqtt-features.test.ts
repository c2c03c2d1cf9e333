import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { statusIs } from '../helpers/agent-process.js';
import { startReceiver } from '../helpers/http-receiver.js';
import { captureLogger } from '../helpers/log-capture.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { DEVICE, agentOn } from '../helpers/mqtt-agent-rig.js';
import type { Owner } from '../helpers/owner.js';
import { SdkClient } from '../helpers/sdk-client.js';
import { tempDir } from '../helpers/temp-dir.js';
import { connectClient, startHub, waitFor, type TestHub } from '../helpers/ws.js';

/**
 * Features that do not care which link carries them, shown over MQTT with a fleet hub: a local
 * app's message reaches a webhook and an app_command reaches the app; drops made while no hub
 * answered are reported upstream once one does.
 */
const LONG = 20_000;

function fleetHub(t: Owner, brokerUrl: string, options: Parameters<typeof startHub>[1] = {}) {
  return startHub(t, {
    deviceTokens: new Map(),
    fleet: {
      url: brokerUrl,
      hubId: 'hub-aaaaaaaaaaaa',
      connection: { backoff: { initialDelayMs: 50, maxDelayMs: 500 } },
    },
    ...options,
  });
}

async function deviceOnline(hub: TestHub): Promise<void> {
  await waitFor(() => hub.hub.device(DEVICE)?.connected === true, LONG);
}

describe('agent features over MQTT', () => {
  it("a local app's message reaches a webhook, and an app_command from a stream client reaches the app", async (t) => {
    const broker = await startMosquitto(t);
    const receiver = await startReceiver(t);
    const hub = await fleetHub(t, broker.url, {
      webhooks: [{ description: 'apps', url: receiver.url, type: 'user' }],
    });
    const socketPath = join(tempDir('iottly-mqtt-app-', t), 'sdk.sock');
    const agent = agentOn(t, broker.url, {
      IOTTLY_TELEMETRY_STREAMS: '',
      IOTTLY_LOCAL_ENABLED: 'true',
      IOTTLY_LOCAL_SOCKET_PATH: socketPath,
    });
    await agent.waitForLog(statusIs('online'), LONG);
    await deviceOnline(hub);

    const app = await SdkClient.connect(socketPath, 'plc', LONG);
    t.after(() => app.socket.destroy());
    await app.handshake();
    app.sendData({ speed: 900 }, 'machines');
    const [post] = await receiver.waitFor(1, LONG);
    const msg = (post?.body as { msg: { payload: unknown; channel: unknown } }).msg;
    assert.deepEqual(msg.payload, { speed: 900 });
    assert.equal(msg.channel, 'machines');

    const client = await connectClient(hub.wsUrl);
    client.send({
      type: 'app_command',
      request_id: 'ac-1',
      payload: { device_id: DEVICE, app: 'plc', command: { set_speed: { rpm: 1200 } } },
    });
    const line = await app.next((l) => l.data !== undefined);
    assert.deepEqual(line, { data: { set_speed: { rpm: 1200 } } });
    const done = await client.inbox.next((f) => f.request_id === 'ac-1', LONG);
    assert.equal(done.type, 'app_command_done');
    assert.deepEqual(done.payload.delivered, ['plc']);
  });

  it('drops made while no hub answered are reported upstream once a hub welcomes the agent', async (t) => {
    const broker = await startMosquitto(t);
    // Online at the broker with no hub: no welcome, so telemetry piles up in a small spool.
    const agent = agentOn(t, broker.url, {
      IOTTLY_TELEMETRY_INTERVAL_MS: '20',
      IOTTLY_TELEMETRY_MIN_INTERVAL_MS: '20',
      IOTTLY_STORAGE_MAX_BYTES: '16384',
    });
    await agent.waitForLog((l) => l.code === 'spool_dropped', LONG);
    const { logger, lines } = captureLogger('info');
    await fleetHub(t, broker.url, { logger });
    await waitFor(() => lines.some((l) => l.code === 'device_dropped'), LONG);
    const report = lines.find((l) => l.code === 'device_dropped');
    const drops = report?.drops as Array<{ lane: string; reason: string; count: number }>;
    assert.ok(drops.length > 0, JSON.stringify(report));
    assert.ok(
      drops.every((d) => d.lane === 'telemetry' && d.reason === 'storage_full' && d.count > 0),
      JSON.stringify(drops),
    );
  });
});
