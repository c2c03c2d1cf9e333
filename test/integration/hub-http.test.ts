import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import {
  API_KEY,
  DEVICE_ID,
  DEVICE_TOKEN,
  HELLO,
  OTHER_DEVICE_ID,
  connectClient,
  connectDevice,
  expectRefused,
  startHub,
  waitFor,
} from '../helpers/ws.js';

const SUMMARY_KEYS = [
  'agent_version',
  'arch',
  'capabilities',
  'connected',
  'connected_since',
  'device_id',
  'hostname',
  'kernel',
  'last_seen',
  'model',
  'os',
  'update',
];

describe('hub HTTP', () => {
  it('GET /healthz answers without auth', async (t) => {
    const hub = await startHub(t);
    const res = await fetch(`${hub.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
  });

  it('GET /v1/devices needs an API key', async (t) => {
    const hub = await startHub(t);
    for (const init of [{}, { headers: { Authorization: 'Bearer wrong' } }]) {
      const res = await fetch(`${hub.url}/v1/devices`, init);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, ErrorCode.unauthorized);
      assert.equal(typeof body.error.message, 'string');
    }
    assert.equal((await fetch(`${hub.url}/v1/devices?api_key=wrong`)).status, 401);
  });

  it('GET /v1/devices lists every device with a token, online or not', async (t) => {
    const hub = await startHub(t);
    const device = await connectDevice(hub.wsUrl);
    for (const url of [`${hub.url}/v1/devices?api_key=${API_KEY}`, `${hub.url}/v1/devices`]) {
      const res = await fetch(url, {
        headers: url.includes('api_key') ? {} : { Authorization: `Bearer ${API_KEY}` },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const devices = (await res.json()) as Record<string, unknown>[];
      assert.deepEqual(
        devices.map((d) => Object.keys(d).sort()),
        [SUMMARY_KEYS, SUMMARY_KEYS],
      );
      const [online, offline] = devices;
      assert.equal(online?.device_id, DEVICE_ID);
      assert.equal(online?.connected, true);
      assert.equal(online?.agent_version, '0.1.0-test');
      assert.equal(online?.os, 'Linux');
      assert.deepEqual(online?.capabilities, HELLO.capabilities);
      assert.match(
        String(online?.connected_since),
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/,
      );
      assert.match(String(online?.last_seen), /Z$/);
      assert.deepEqual(offline, {
        device_id: OTHER_DEVICE_ID,
        connected: false,
        connected_since: null,
        last_seen: null,
        agent_version: null,
        hostname: null,
        os: null,
        kernel: null,
        arch: null,
        model: null,
        capabilities: [],
        update: null,
      });
    }
    device.ws.close();
    await waitFor(() => hub.hub.device(DEVICE_ID)?.connected === false);
    const devices = (await (
      await fetch(`${hub.url}/v1/devices?api_key=${API_KEY}`)
    ).json()) as Record<string, unknown>[];
    assert.equal(devices[0]?.connected, false);
    assert.equal(devices[0]?.connected_since, null);
    assert.notEqual(devices[0]?.last_seen, null, 'last_seen survives the disconnect');
  });

  it('answers unknown paths 404, wrong methods 405 and plain HTTP on WebSocket paths 426, in JSON', async (t) => {
    const hub = await startHub(t);
    const cases: [string, RequestInit, number, string][] = [
      ['/nope', {}, 404, ErrorCode.notFound],
      ['/v1/devices', { method: 'POST' }, 405, ErrorCode.methodNotAllowed],
      ['/v1/stream', {}, 426, ErrorCode.upgradeRequired],
    ];
    for (const [path, init, status, code] of cases) {
      const res = await fetch(`${hub.url}${path}`, init);
      assert.equal(res.status, status, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, code);
    }
  });
});

describe('hub logs', () => {
  it('log refusals and connections at trace level without any token or API key', async (t) => {
    const lines: string[] = [];
    const hub = await startHub(t, {
      logger: pino({ level: 'trace' }, { write: (line: string) => lines.push(line) }),
    });
    await expectRefused(`${hub.wsUrl}/v1/device`, {
      headers: { Authorization: 'Bearer wrong-secret-token' },
    });
    await expectRefused(`${hub.wsUrl}/v1/stream?api_key=wrong-secret-key`);
    await fetch(`${hub.url}/v1/devices?api_key=wrong-secret-key`);
    const device = await connectDevice(hub.wsUrl);
    const client = await connectClient(hub.wsUrl);
    client.send({ type: 'subscribe', payload: { device_id: DEVICE_ID, streams: [] } });
    await client.inbox.nextOfType('error');
    await hub.stop(); // the subject too: disconnects are logged
    await Promise.all([device.closed, client.closed]);

    const text = lines.join('');
    for (const secret of ['wrong-secret-token', 'wrong-secret-key', DEVICE_TOKEN, API_KEY]) {
      assert.ok(!text.includes(secret), `a log line contains ${secret}`);
    }
    const messages = lines.map((line) => JSON.parse(line) as { msg: string; code?: string });
    assert.ok(
      messages.some((m) => m.msg === 'device refused' && m.code === ErrorCode.unauthorized),
    );
    assert.ok(messages.some((m) => m.msg === 'stream client refused'));
    assert.ok(messages.some((m) => m.msg === 'device connected'));
    assert.ok(messages.some((m) => m.msg === 'device disconnected'));
  });
});
