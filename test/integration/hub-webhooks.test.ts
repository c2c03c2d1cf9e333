import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { parseHubArgs } from '../../src/cli/hub-args.js';
import { runHub } from '../../src/roots/hub-root.js';
import { systemClock } from '../../src/time/clock.js';
import { startReceiver } from '../helpers/http-receiver.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import {
  API_KEY,
  DEVICE_ID,
  connectClient,
  connectDevice,
  startHub,
  waitFor,
  type TestHub,
} from '../helpers/ws.js';

/**
 * Webhooks of the reference hub against real HTTP receivers on loopback: filters, body shapes,
 * headers, the 5/5 limits over REST, test messages (also across hubs on a real mosquitto),
 * retries, and isolation of a receiver that never answers.
 */
const TS = '2026-05-06T14:22:46.123Z';
// Fast retries, but a timeout no loaded machine reaches: a request that times out is sent again
// (webhooks are delivered at least once), and a receiver that had already taken it sees it twice.
const FAST = { backoff: { initialDelayMs: 20, maxDelayMs: 40 }, timeoutMs: 5_000, maxAttempts: 4 };

describe('hub webhooks', () => {
  function hubWith(t: Owner, overrides: Parameters<typeof startHub>[1] = {}): Promise<TestHub> {
    return startHub(t, { webhookPolicy: FAST, ...overrides });
  }

  function api(hub: TestHub, path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${hub.url}${path}`, {
      ...init,
      headers: { Authorization: `Bearer ${API_KEY}`, ...(init.headers ?? {}) },
    });
  }

  it('filters on type and channel, sends headers, and payload-only bodies', async (t) => {
    const iottly = await startReceiver(t);
    const user = await startReceiver(t);
    const sensors = await startReceiver(t);
    const bare = await startReceiver(t);
    const hub = await hubWith(t, {
      webhooks: [
        { description: 'agent', url: iottly.url, type: 'iottly' },
        {
          description: 'all user',
          url: user.url,
          type: 'user',
          headers: { 'X-Api-Token': 'secret-1', 'X-Tenant': 'acme' },
        },
        { description: 'sensors', url: sensors.url, type: 'user', channel: 'sensors' },
        {
          description: 'payload only',
          url: bare.url,
          type: 'user',
          channel: 'sensors',
          payload_only: true,
        },
      ],
    });
    const device = await connectDevice(hub.wsUrl);
    device.send({
      type: 'user',
      channel: 'sensors',
      ts: TS,
      payload: { app: 'thermo', payload: { t: 21.5 } },
    });
    device.send({
      type: 'user',
      channel: 'logs',
      ts: TS,
      payload: { app: 'thermo', payload: { line: 'x' } },
    });
    device.send({ type: 'status', channel: 'status', ts: TS, payload: { uptime: 5 } });

    const [agentMsg] = await iottly.waitFor(1);
    const a = (agentMsg?.body as { msg: Record<string, unknown> }).msg;
    assert.equal(a.type, 'iottly');
    assert.equal(a.message_type, 'status');
    assert.deepEqual(a.payload, { uptime: 5 });

    const got = await user.waitFor(2);
    assert.deepEqual(
      got.map((r) => (r.body as { msg: { channel: string } }).msg.channel),
      ['sensors', 'logs'],
    );
    assert.equal(got[0]?.headers['x-api-token'], 'secret-1');
    assert.equal(got[0]?.headers['x-tenant'], 'acme');
    assert.match(String(got[0]?.headers['content-type']), /^application\/json/);

    const [s] = await sensors.waitFor(1);
    const msg = (s?.body as { msg: Record<string, unknown> }).msg;
    assert.deepEqual(
      { from: msg.from, type: msg.type, channel: msg.channel, payload: msg.payload },
      { from: DEVICE_ID, type: 'user', channel: 'sensors', payload: { t: 21.5 } },
    );
    assert.equal(msg.devicetimestamp, TS);
    assert.ok(
      Date.parse(String(msg.timestamp)) > Date.parse(TS),
      'timestamp is the hub receive time',
    );

    const [p] = await bare.waitFor(1);
    assert.deepEqual(p?.body, { t: 21.5 });
    // Nothing else arrives at the filtered webhooks: the status frame was delivered last.
    assert.equal(sensors.requests.length, 1);
    assert.equal(iottly.requests.length, 1);
  });

  it('manages webhooks over REST with the 5-webhook and 5-header limits', async (t) => {
    const hub = await hubWith(t);
    const spec = (i: number) => ({
      description: `w${i}`,
      url: `https://hooks.example.com/${i}`,
      type: 'user',
    });
    assert.equal((await fetch(`${hub.url}/v1/webhooks`)).status, 401);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api(hub, '/v1/webhooks', { method: 'POST', body: JSON.stringify(spec(i)) });
      assert.equal(res.status, 201);
      const stored = (await res.json()) as { id: string; description: string };
      assert.equal(stored.description, `w${i}`);
      ids.push(stored.id);
    }
    const sixth = await api(hub, '/v1/webhooks', { method: 'POST', body: JSON.stringify(spec(5)) });
    assert.equal(sixth.status, 409);
    assert.equal(((await sixth.json()) as { error: { code: string } }).error.code, 'webhook_limit');

    const listed = (await (await api(hub, '/v1/webhooks')).json()) as Array<{ id: string }>;
    assert.deepEqual(
      listed.map((w) => w.id),
      ids,
    );
    assert.equal((await api(hub, `/v1/webhooks/${ids[0]}`, { method: 'DELETE' })).status, 204);
    assert.equal((await api(hub, `/v1/webhooks/${ids[0]}`, { method: 'DELETE' })).status, 404);

    const headers = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`X-H${i}`, 'v']));
    const tooMany = await api(hub, '/v1/webhooks', {
      method: 'POST',
      body: JSON.stringify({ ...spec(9), headers }),
    });
    assert.equal(tooMany.status, 400);
    const body = (await tooMany.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'invalid_webhook');
    assert.match(body.error.message, /at most 5 custom headers, got 6/);

    for (const [bad, why] of [
      [{ ...spec(1), url: 'http://hooks.example.com/x' }, /https/],
      [{ ...spec(1), type: 'other' }, /"iottly" \| "user"/],
      [{ ...spec(1), headers: { Host: 'x' } }, /set by the hub/],
      [{ url: 'https://x.example' }, /description: required/],
    ] as const) {
      const res = await api(hub, '/v1/webhooks', { method: 'POST', body: JSON.stringify(bad) });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, why);
    }
    const notJson = await api(hub, '/v1/webhooks', { method: 'POST', body: '{' });
    assert.equal(notJson.status, 400);
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const tooDeep = await api(hub, '/v1/webhooks', {
      method: 'POST',
      body: `{"description":"deep","url":"https://x.example","type":"user","x":${deep}}`,
    });
    assert.equal(tooDeep.status, 400);
    assert.deepEqual(await tooDeep.json(), {
      error: { code: 'invalid_json', message: 'body is nested deeper than 64 levels' },
    });
  });

  it('refuses POST and DELETE on /v1/webhooks without an API key with 401, changing nothing', async (t) => {
    const hub = await hubWith(t);
    const spec = { description: 'd', url: 'https://hooks.example.com/x', type: 'user' };
    const created = await api(hub, '/v1/webhooks', { method: 'POST', body: JSON.stringify(spec) });
    const { id } = (await created.json()) as { id: string };
    // The body every other route gives a request without a valid key.
    const devices = await fetch(`${hub.url}/v1/devices`);
    assert.equal(devices.status, 401);
    const refusal = (await devices.json()) as { error: { code: string } };
    assert.equal(refusal.error.code, 'unauthorized');
    const unauthenticated = [
      { path: '/v1/webhooks', init: { method: 'POST', body: JSON.stringify(spec) } },
      { path: `/v1/webhooks/${id}`, init: { method: 'DELETE' } },
    ];
    const withoutKey: Array<Record<string, string>> = [{}, { Authorization: 'Bearer wrong' }];
    for (const { path, init } of unauthenticated) {
      for (const headers of withoutKey) {
        const res = await fetch(`${hub.url}${path}`, { ...init, headers });
        const what = `${init.method} ${path} ${JSON.stringify(headers)}`;
        assert.equal(res.status, 401, what);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer', what);
        assert.deepEqual(await res.json(), refusal, what);
      }
    }
    assert.deepEqual(
      hub.hub.webhooks.list().map((w) => w.id),
      [id],
      'nothing added or removed',
    );
  });

  it('lists webhooks for a session token (masked) and refuses it every write with 403 insufficient_scope', async (t) => {
    const hub = await hubWith(t);
    const opened = await api(hub, '/v1/session', { method: 'POST' });
    const { token } = (await opened.json()) as { token: string };
    const spec = {
      description: 'd',
      url: 'https://hooks.example.com/x',
      type: 'user',
      headers: { Authorization: 'Bearer s3cret' },
    };
    const created = await api(hub, '/v1/webhooks', { method: 'POST', body: JSON.stringify(spec) });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    for (const [path, headers] of [
      ['/v1/webhooks', { Authorization: `Bearer ${token}` }],
      [`/v1/webhooks?session=${token}`, {}],
    ] as const) {
      const listed = await fetch(`${hub.url}${path}`, { headers });
      assert.equal(listed.status, 200, path);
      const text = await listed.text();
      assert.ok(!text.includes('s3cret'), text);
      assert.deepEqual(
        (JSON.parse(text) as Array<{ id: string; headers: unknown }>).map((w) => [w.id, w.headers]),
        [[id, { Authorization: '***' }]],
      );
    }
    const asSession = [
      { path: '/v1/webhooks', init: { method: 'POST', body: JSON.stringify(spec) }, header: true },
      { path: `/v1/webhooks/${id}`, init: { method: 'DELETE' }, header: true },
      { path: `/v1/webhooks/${id}?session=${token}`, init: { method: 'DELETE' }, header: false },
      { path: `/v1/webhooks/${id}/test`, init: { method: 'POST' }, header: true },
    ];
    for (const { path, init, header } of asSession) {
      const res = await fetch(`${hub.url}${path}`, {
        ...init,
        headers: header ? { Authorization: `Bearer ${token}` } : {},
      });
      assert.equal(res.status, 403, `${init.method ?? 'GET'} ${path}`);
      assert.match(String(res.headers.get('www-authenticate')), /insufficient_scope/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'insufficient_scope');
      assert.match(body.error.message, /API key/);
    }
    assert.equal(hub.hub.webhooks.list().length, 1, 'the session token created nothing');
    // What the console uses still takes the token.
    const devices = await fetch(`${hub.url}/v1/devices`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(devices.status, 200);
    // And the API key still manages webhooks.
    assert.equal((await api(hub, '/v1/webhooks')).status, 200);
    assert.equal((await api(hub, `/v1/webhooks/${id}`, { method: 'DELETE' })).status, 204);
  });

  it('never shows header values: listings and the 201 answer mask them, delivery sends them', async (t) => {
    const target = await startReceiver(t);
    const hub = await hubWith(t);
    const SECRET = 'Bearer s3cret-do-not-echo';
    const spec = {
      description: 'with secrets',
      url: target.url,
      type: 'user',
      headers: { Authorization: SECRET, 'X-Tenant': 'acme-tenant-secret' },
    };
    const created = await api(hub, '/v1/webhooks', { method: 'POST', body: JSON.stringify(spec) });
    assert.equal(created.status, 201);
    const createdText = await created.text();
    const listedText = await (await api(hub, '/v1/webhooks')).text();
    for (const text of [createdText, listedText]) {
      assert.ok(!text.includes('s3cret'), text);
      assert.ok(!text.includes('acme-tenant-secret'), text);
    }
    const [listed] = JSON.parse(listedText) as Array<{ headers: Record<string, string> }>;
    assert.deepEqual(listed?.headers, { Authorization: '***', 'X-Tenant': '***' });
    assert.deepEqual((JSON.parse(createdText) as { headers: unknown }).headers, listed?.headers);

    const device = await connectDevice(hub.wsUrl);
    device.send({ type: 'user', ts: TS, payload: { app: 'a', payload: { n: 1 } } });
    const [got] = await target.waitFor(1);
    assert.equal(got?.headers['authorization'], SECRET);
    assert.equal(got?.headers['x-tenant'], 'acme-tenant-secret');
  });

  it('POST /v1/webhooks/{id}/test sends one test message in the platform shape and answers the receiver status', async (t) => {
    const receiver = await startReceiver(t, (_req, index) => (index === 0 ? 202 : 500));
    const bare = await startReceiver(t);
    const hub = await hubWith(t);
    const create = async (spec: object): Promise<string> => {
      const res = await api(hub, '/v1/webhooks', { method: 'POST', body: JSON.stringify(spec) });
      return ((await res.json()) as { id: string }).id;
    };
    const id = await create({
      description: 'sensors in',
      url: `${receiver.url}/in`,
      type: 'user',
      channel: 'sensors',
      headers: { Authorization: 'Bearer s3cret' },
    });
    const test = (which: string) => api(hub, `/v1/webhooks/${which}/test`, { method: 'POST' });

    const first = await test(id);
    assert.equal(first.status, 200);
    assert.deepEqual(await first.json(), { status: 202 });
    const [got] = await receiver.waitFor(1);
    assert.equal(got?.path, '/in');
    assert.equal(got?.headers['authorization'], 'Bearer s3cret', 'the real header value is sent');
    const msg = (got?.body as { msg: Record<string, unknown> }).msg;
    assert.deepEqual(
      { ...msg, timestamp: typeof msg.timestamp },
      {
        from: 'iottly-hub',
        timestamp: 'string',
        devicetimestamp: null,
        type: 'user',
        channel: 'sensors',
        message_type: 'webhook_test',
        test: true,
        payload: { test: true, text: 'a test message for the webhook "sensors in"' },
      },
    );
    // A 5xx is reported as it is, not retried: a test is one request.
    assert.deepEqual(await (await test(id)).json(), { status: 500 });
    assert.equal(receiver.requests.length, 2);

    const bareId = await create({
      description: 'bare',
      url: bare.url,
      type: 'iottly',
      payload_only: true,
    });
    assert.deepEqual(await (await test(bareId)).json(), { status: 200 });
    const [p] = await bare.waitFor(1);
    assert.deepEqual(p?.body, { test: true, text: 'a test message for the webhook "bare"' });

    for (const missing of ['wh_nope', '%E0%A4%A']) {
      const res = await test(missing);
      assert.equal(res.status, 404, missing);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    }
    const wrongMethod = await api(hub, `/v1/webhooks/${id}/test`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
  });

  it('reports a test message that times out or finds no receiver, and one test at a time per webhook', async (t) => {
    const hanging = await startReceiver(t, () => 'hang');
    const gone = await startReceiver(t);
    await gone.close();
    // Long enough that the second request surely comes while the first is in flight.
    const hub = await hubWith(t, { webhookPolicy: { ...FAST, timeoutMs: 3_000 } });
    const ids: string[] = [];
    for (const url of [hanging.url, gone.url]) {
      const res = await api(hub, '/v1/webhooks', {
        method: 'POST',
        body: JSON.stringify({ description: 'x', url, type: 'iottly' }),
      });
      ids.push(((await res.json()) as { id: string }).id);
    }
    const [hangs = '', refuses = ''] = ids;
    const pending = api(hub, `/v1/webhooks/${hangs}/test`, { method: 'POST' });
    await hanging.waitFor(1);
    const second = await api(hub, `/v1/webhooks/${hangs}/test`, { method: 'POST' });
    assert.equal(second.status, 409);
    assert.equal(((await second.json()) as { error: { code: string } }).error.code, 'busy');
    const timedOut = await pending;
    assert.equal(timedOut.status, 200);
    assert.deepEqual(await timedOut.json(), {
      status: null,
      failure: 'timeout',
      message: 'no answer within 3000 ms',
    });

    const refused = (await (
      await api(hub, `/v1/webhooks/${refuses}/test`, { method: 'POST' })
    ).json()) as { status: null; failure: string; message: string };
    assert.equal(refused.status, null);
    assert.equal(refused.failure, 'unreachable');
    assert.match(refused.message, /ECONNREFUSED/);
  });

  it('hub --broker: a webhook added on one hub is listed masked and test-messaged from another', async (t) => {
    const receiver = await startReceiver(t, () => 204);
    const broker = await startMosquitto(t);
    const fleetHub = (hubId: string) =>
      hubWith(t, {
        deviceTokens: new Map(),
        fleet: {
          url: broker.url,
          hubId,
          connection: { backoff: { initialDelayMs: 50, maxDelayMs: 500 } },
        },
      });
    const a = await fleetHub('hub-aaaaaaaaaaaa');
    const b = await fleetHub('hub-bbbbbbbbbbbb');
    const created = await api(a, '/v1/webhooks', {
      method: 'POST',
      body: JSON.stringify({
        description: 'shared',
        url: receiver.url,
        type: 'iottly',
        headers: { 'X-Api-Token': 'secret-1' },
      }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    await waitFor(() => b.hub.webhooks.list().some((w) => w.id === id), 15_000);

    const { token } = (await (await api(b, '/v1/session', { method: 'POST' })).json()) as {
      token: string;
    };
    const listed = await fetch(`${b.url}/v1/webhooks`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.deepEqual(
      ((await listed.json()) as Array<{ id: string; headers: unknown }>).map((w) => [
        w.id,
        w.headers,
      ]),
      [[id, { 'X-Api-Token': '***' }]],
    );
    const tested = await api(b, `/v1/webhooks/${id}/test`, { method: 'POST' });
    assert.deepEqual(await tested.json(), { status: 204 });
    const [got] = await receiver.waitFor(1);
    assert.equal(got?.headers['x-api-token'], 'secret-1', 'hub B posts with the real value');
    assert.equal((got?.body as { msg: { test: boolean } }).msg.test, true);
  });

  it('answers a malformed percent-encoding in a webhook id with 404, not 500', async (t) => {
    const hub = await hubWith(t);
    for (const id of ['%E0%A4%A', '%', '%ZZ', '%C0%80']) {
      const res = await api(hub, `/v1/webhooks/${id}`, { method: 'DELETE' });
      assert.equal(res.status, 404, id);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    }
    assert.equal((await fetch(`${hub.url}/healthz`)).status, 200);
  });

  it('retries after a 500, keeping the order of the messages', async (t) => {
    const flaky = await startReceiver(t, (_req, index) => (index === 0 ? 500 : 200));
    const hub = await hubWith(t, {
      webhooks: [{ description: 'flaky', url: flaky.url, type: 'user' }],
    });
    const device = await connectDevice(hub.wsUrl);
    for (const n of [1, 2, 3]) {
      device.send({ type: 'user', ts: TS, payload: { app: 'a', payload: { n } } });
    }
    const got = await flaky.waitFor(4);
    assert.deepEqual(
      got.map((r) => (r.body as { msg: { payload: { n: number } } }).msg.payload.n),
      [1, 1, 2, 3],
    );
  });

  it('a receiver that never answers delays neither the device path nor the other webhooks', async (t) => {
    const hanging = await startReceiver(t, () => 'hang');
    const healthy = await startReceiver(t);
    const hub = await hubWith(t, {
      webhookPolicy: { ...FAST, timeoutMs: 60_000 },
      webhooks: [
        { description: 'hangs', url: hanging.url, type: 'iottly' },
        { description: 'healthy', url: healthy.url, type: 'iottly' },
      ],
    });
    const device = await connectDevice(hub.wsUrl);
    const client = await connectClient(hub.wsUrl);
    client.send({
      type: 'subscribe',
      request_id: 's',
      payload: { device_id: DEVICE_ID, streams: ['cpu'] },
    });
    await client.inbox.nextOfType('subscribed');
    for (let i = 0; i < 20; i++) {
      device.send({
        type: 'telemetry',
        channel: 'telemetry',
        ts: TS,
        payload: { stream: 'cpu', ts: TS, value: i },
      });
    }
    for (let i = 0; i < 20; i++) await client.inbox.nextOfType('telemetry');
    await healthy.waitFor(20);
    assert.equal(hanging.requests.length, 1, 'one request in flight, the rest wait their turn');
  });

  it('reads --webhooks FILE at start and refuses a bad one naming the entry', async (t) => {
    const target = await startReceiver(t);
    const dir = tempDir('iottly-hooks-', t);
    const file = join(dir, 'hooks.json');
    writeFileSync(file, JSON.stringify([{ description: 'f', url: target.url, type: 'user' }]));
    const deps = {
      logger: pino({ level: 'silent' }),
      clock: systemClock,
      readFile: (path: string) => readFileSync(path),
      banner: { write: () => true },
      signals: { once: () => undefined, off: () => undefined },
    };
    const running = await runHub(parseHubArgs(['--api-key', 'k', '--webhooks', file]), deps);
    t.after(() => running.stop());
    assert.equal(running.hub.webhooks.list()[0]?.url, target.url);

    writeFileSync(file, JSON.stringify([{ description: 'f', url: target.url, type: 'bogus' }]));
    await assert.rejects(
      runHub(parseHubArgs(['--api-key', 'k', '--webhooks', file]), deps),
      /--webhooks: .*webhooks\[0\]\.type: expected "iottly" \| "user"/,
    );

    writeFileSync(file, `[${'['.repeat(5000)}${']'.repeat(5000)}]`);
    await assert.rejects(
      runHub(parseHubArgs(['--api-key', 'k', '--webhooks', file]), deps),
      new RegExp(`--webhooks: ${file}: nested deeper than 64 levels`),
    );
  });
});
