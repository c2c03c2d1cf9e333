import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import {
  DEVICE_ID,
  DEVICE_TOKEN,
  HELLO,
  OTHER_DEVICE_ID,
  OTHER_DEVICE_TOKEN,
  connect,
  connectDevice,
  expectRefused,
  sayHello,
  startHub,
  telemetryFrame,
  type TestHub,
} from '../helpers/ws.js';

describe('hub /v1/device', () => {
  const deviceUrl = (hub: TestHub) => `${hub.wsUrl}/v1/device`;
  const auth = (token: string, deviceId?: string) => ({
    headers: {
      Authorization: `Bearer ${token}`,
      ...(deviceId ? { 'X-Iottly-Device-Id': deviceId } : {}),
    },
  });

  describe('authentication at the upgrade', () => {
    it('refuses a wrong token with 401 and never opens the socket', async (t) => {
      const hub = await startHub(t);
      const { status, body } = await expectRefused(
        deviceUrl(hub),
        auth('not-the-token', DEVICE_ID),
      );
      assert.equal(status, 401);
      assert.deepEqual(JSON.parse(body).error.code, ErrorCode.unauthorized);
    });

    it('refuses a missing token', async (t) => {
      const hub = await startHub(t);
      assert.equal((await expectRefused(deviceUrl(hub))).status, 401);
      assert.equal(
        (await expectRefused(deviceUrl(hub), { headers: { Authorization: 'Basic abc' } })).status,
        401,
      );
    });

    it('refuses a device id header that is not the token owner', async (t) => {
      const hub = await startHub(t);
      assert.equal(
        (await expectRefused(deviceUrl(hub), auth(DEVICE_TOKEN, OTHER_DEVICE_ID))).status,
        401,
      );
    });

    it('accepts a right token with or without the device id header', async (t) => {
      const hub = await startHub(t);
      const a = await connect(deviceUrl(hub), auth(DEVICE_TOKEN, DEVICE_ID));
      const b = await connect(deviceUrl(hub), auth(OTHER_DEVICE_TOKEN));
      // Accepted means served, not opened and dropped: each link is welcomed as the device its
      // token names, and its telemetry is acknowledged after that.
      for (const [peer, id] of [
        [a, DEVICE_ID],
        [b, OTHER_DEVICE_ID],
      ] as const) {
        const welcome = await sayHello(peer, {}, id);
        assert.equal(welcome.payload.device_id, id);
        const seq = Number(welcome.payload.last_seq) + 1;
        peer.send(telemetryFrame(seq));
        await peer.inbox.next((f) => f.type === 'ack' && f.payload.seq === seq);
        assert.equal(hub.hub.device(id)?.connected, true);
      }
      a.ws.close();
      b.ws.close();
      await Promise.all([a.closed, b.closed]);
    });

    it('answers an unknown WebSocket path with 404', async (t) => {
      const hub = await startHub(t);
      assert.equal((await expectRefused(`${hub.wsUrl}/v1/nope`, auth(DEVICE_TOKEN))).status, 404);
    });
  });

  describe('handshake', () => {
    it('answers hello with welcome and records the device', async (t) => {
      const hub = await startHub(t);
      const peer = await connect(deviceUrl(hub), auth(DEVICE_TOKEN, DEVICE_ID));
      peer.send({ type: 'hello', payload: { device_id: DEVICE_ID, ...HELLO } });
      const welcome = await peer.inbox.nextOfType('welcome');
      assert.equal(welcome.payload.device_id, DEVICE_ID);
      assert.equal(welcome.payload.protocol, 1);
      assert.match(String(welcome.payload.server_time), /^\d{4}-\d{2}-\d{2}T.*Z$/);
      const record = hub.hub.device(DEVICE_ID);
      assert.equal(record?.connected, true);
      assert.equal(record?.agent_version, HELLO.agent_version);
      assert.equal(record?.hello?.hostname, 'testbox');
      assert.deepEqual(record?.hello?.capabilities, HELLO.capabilities);
      assert.ok(record?.connected_since && record.last_seen);
    });

    it('refuses a hello naming another device with device_mismatch and closes 1008', async (t) => {
      const hub = await startHub(t);
      const peer = await connect(deviceUrl(hub), auth(DEVICE_TOKEN, DEVICE_ID));
      peer.send({
        type: 'hello',
        request_id: 'h1',
        payload: { device_id: OTHER_DEVICE_ID, ...HELLO },
      });
      const error = await peer.inbox.nextOfType('error');
      assert.equal(error.payload.code, ErrorCode.deviceMismatch);
      assert.equal(error.request_id, 'h1');
      assert.equal((await peer.closed).code, 1008);
    });

    it('refuses other frames before hello with hello_required, then accepts hello', async (t) => {
      const hub = await startHub(t);
      const peer = await connect(deviceUrl(hub), auth(DEVICE_TOKEN));
      peer.send({
        type: 'telemetry',
        request_id: 't0',
        payload: { stream: 'cpu', ts: '2026-01-01T00:00:00Z', value: 1 },
      });
      const error = await peer.inbox.nextOfType('error');
      assert.equal(error.payload.code, ErrorCode.helloRequired);
      assert.equal(error.request_id, 't0');
      peer.send({ type: 'hello', payload: { device_id: DEVICE_ID, ...HELLO } });
      await peer.inbox.nextOfType('welcome');
    });
  });

  it('closes a link that never says hello (1008, hello_required)', async (t) => {
    const strict = await startHub(t, { helloTimeoutMs: 150 });
    const peer = await connect(`${strict.wsUrl}/v1/device`, auth(DEVICE_TOKEN));
    const error = await peer.inbox.nextOfType('error');
    assert.equal(error.payload.code, ErrorCode.helloRequired);
    assert.match(String(error.payload.message), /no hello within 150 ms/);
    assert.equal((await peer.closed).code, 1008);
    assert.equal(strict.hub.device(DEVICE_ID)?.connected ?? false, false);
  });

  describe('bad frames', () => {
    const cases: [string, string | Buffer, string, string | undefined][] = [
      ['not JSON', '{nope', ErrorCode.invalidJson, undefined],
      ['no type', JSON.stringify({ request_id: 'r1', payload: {} }), ErrorCode.missingType, 'r1'],
      [
        'an unknown type',
        JSON.stringify({ type: 'launch', request_id: 'r2', payload: {} }),
        ErrorCode.unknownType,
        'r2',
      ],
      [
        'a wrong field type',
        JSON.stringify({
          type: 'telemetry',
          request_id: 'r3',
          payload: { stream: 'cpu', ts: '2026-01-01T00:00:00Z', value: 'hot' },
        }),
        ErrorCode.invalidPayload,
        'r3',
      ],
      ['a binary frame', Buffer.from('{"type":"hello"}'), ErrorCode.invalidJson, undefined],
      [
        'a frame nested 5000 deep',
        `{"type":"user","request_id":"r4","payload":{"app":"a","payload":{"x":${'['.repeat(5000)}${']'.repeat(5000)}}}}`,
        ErrorCode.invalidJson,
        undefined, // refused before it is decoded: its request_id is never read
      ],
    ];
    for (const [name, data, code, requestId] of cases) {
      it(`answers ${name} with ${code} and keeps the link`, async (t) => {
        const hub = await startHub(t);
        const peer = await connectDevice(hub.wsUrl);
        peer.ws.send(data);
        const error = await peer.inbox.nextOfType('error');
        assert.equal(error.payload.code, code);
        assert.equal(error.request_id, requestId);
        // still alive and served
        peer.send({
          type: 'hello',
          request_id: 'again',
          payload: { device_id: DEVICE_ID, ...HELLO },
        });
        assert.equal((await peer.inbox.nextOfType('welcome')).request_id, 'again');
      });
    }

    it('never answers an error frame, valid or not', async (t) => {
      const hub = await startHub(t);
      const peer = await connectDevice(hub.wsUrl);
      peer.send({ type: 'error', payload: { code: 'oops', message: 'something' } });
      peer.send({ type: 'error', request_id: 'x', payload: { code: 5 } });
      peer.send({ type: 'error', request_id: 42, payload: {} });
      // A marker request answered afterwards proves the errors were processed and ignored.
      peer.send({
        type: 'hello',
        request_id: 'marker',
        payload: { device_id: DEVICE_ID, ...HELLO },
      });
      await peer.inbox.nextOfType('welcome');
      assert.deepEqual(
        peer.inbox.unread.filter((f) => f.type === 'error'),
        [],
      );
    });
  });

  it('a second connection of a device replaces the first (4000)', async (t) => {
    const hub = await startHub(t);
    const first = await connectDevice(hub.wsUrl);
    await connectDevice(hub.wsUrl); // the second connection
    const { code, reason } = await first.closed;
    assert.equal(code, 4000);
    assert.equal(reason, 'replaced by a new connection');
    assert.equal(
      hub.hub.device(DEVICE_ID)?.connected,
      true,
      'the old close does not take the device offline',
    );
  });
});
