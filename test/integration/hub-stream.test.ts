import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import {
  API_KEY,
  DEVICE_ID,
  OTHER_DEVICE_ID,
  connect,
  connectClient,
  connectDevice,
  expectRefused,
  startHub,
  type Peer,
  type TestHub,
  waitFor,
} from '../helpers/ws.js';

const TS = '2026-05-06T14:22:46.123Z';

function telemetry(stream: string, value: number, extra: Record<string, unknown> = {}) {
  return {
    type: 'telemetry',
    channel: 'telemetry',
    ts: TS,
    payload: { stream, ts: TS, value, ...extra },
  };
}

async function subscribe(
  client: Peer,
  requestId: string,
  streams: string[],
  deviceId = DEVICE_ID,
): Promise<string> {
  client.send({
    type: 'subscribe',
    request_id: requestId,
    payload: { device_id: deviceId, streams },
  });
  const reply = await client.inbox.next((f) => f.request_id === requestId);
  assert.equal(reply.type, 'subscribed', JSON.stringify(reply));
  return String(reply.payload.subscription_id);
}

async function close(...peers: Peer[]): Promise<void> {
  for (const peer of peers) peer.ws.close();
  await Promise.all(peers.map((p) => p.closed));
}

/**
 * Each test starts a hub of its own, so subscriptions and requests a failed test left cannot
 * reach the next one's assertions. A short request grace, so that a device gone mid-command is
 * reported within the test.
 */
const HUB_OPTIONS = { requestGraceMs: 300 };

describe('hub /v1/stream', () => {
  describe('authentication at the upgrade', () => {
    it('accepts ?api_key= and Authorization: Bearer', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const a = await connect(`${hub.wsUrl}/v1/stream?api_key=${API_KEY}`);
      const b = await connect(`${hub.wsUrl}/v1/stream`, {
        headers: { Authorization: `Bearer ${API_KEY}` },
      });
      // Accepted means served, not opened and dropped: each client's request is answered, and
      // what it asked for lasts while it stays connected.
      const ids = [
        await subscribe(a, 'accept-a', ['cpu']),
        await subscribe(b, 'accept-b', ['cpu']),
      ];
      const live = () => hub.hub.subscriptions().filter((s) => ids.includes(s.id)).length;
      assert.equal(live(), 2);
      await close(a, b);
      await waitFor(() => live() === 0);
    });

    it('refuses a wrong or missing key with 401', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      assert.equal((await expectRefused(`${hub.wsUrl}/v1/stream?api_key=wrong`)).status, 401);
      assert.equal((await expectRefused(`${hub.wsUrl}/v1/stream`)).status, 401);
      const bearer = { headers: { Authorization: 'Bearer wrong' } };
      assert.equal((await expectRefused(`${hub.wsUrl}/v1/stream`, bearer)).status, 401);
    });
  });

  describe('subscriptions', () => {
    it('answers subscribe with subscribed, echoing request_id', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const client = await connectClient(hub.wsUrl);
      const id = await subscribe(client, 'sub-1', ['cpu', 'memory']);
      assert.match(id, /^sub_/);
      assert.deepEqual(
        hub.hub
          .subscriptions()
          .filter((s) => s.id === id)
          .map((s) => s.streams),
        [['cpu', 'memory']],
      );
    });

    it('refuses an unknown device with unknown_device', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const client = await connectClient(hub.wsUrl);
      client.send({
        type: 'subscribe',
        request_id: 'sub-x',
        payload: { device_id: 'nobody', streams: ['cpu'] },
      });
      const error = await client.inbox.nextOfType('error');
      assert.equal(error.payload.code, ErrorCode.unknownDevice);
      assert.equal(error.request_id, 'sub-x');
    });

    it('relays telemetry to each subscription under its own subscription_id, filtered by stream', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const device = await connectDevice(hub.wsUrl);
      const a = await connectClient(hub.wsUrl);
      const b = await connectClient(hub.wsUrl);
      const subA = await subscribe(a, 'sub-1', ['cpu']);
      const subB = await subscribe(b, 'sub-1', ['cpu', 'memory']);
      assert.notEqual(subA, subB);

      device.send(telemetry('memory', 42));
      device.send(telemetry('cpu', 18.4));
      const expected = (subscription_id: string, stream: string, value: number) => ({
        type: 'telemetry',
        payload: { subscription_id, device_id: DEVICE_ID, stream, ts: TS, value },
      });
      assert.deepEqual(await b.inbox.nextOfType('telemetry'), expected(subB, 'memory', 42));
      assert.deepEqual(await b.inbox.nextOfType('telemetry'), expected(subB, 'cpu', 18.4));
      assert.deepEqual(await a.inbox.nextOfType('telemetry'), expected(subA, 'cpu', 18.4));
      assert.deepEqual(a.inbox.unread, [], 'a did not subscribe to memory');
    });

    it('unsubscribe ends a subscription; an unknown id gets unknown_subscription', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const device = await connectDevice(hub.wsUrl);
      const client = await connectClient(hub.wsUrl);
      const cpu = await subscribe(client, 's1', ['cpu']);
      const mem = await subscribe(client, 's2', ['memory']);

      client.send({ type: 'unsubscribe', request_id: 'u1', payload: { subscription_id: cpu } });
      assert.deepEqual(await client.inbox.next((f) => f.request_id === 'u1'), {
        type: 'unsubscribed',
        request_id: 'u1',
        payload: { subscription_id: cpu },
      });
      client.send({ type: 'unsubscribe', request_id: 'u2', payload: { subscription_id: cpu } });
      const error = await client.inbox.next((f) => f.request_id === 'u2');
      assert.equal(error.payload.code, ErrorCode.unknownSubscription);

      device.send(telemetry('cpu', 1));
      device.send(telemetry('memory', 2));
      const frame = await client.inbox.nextOfType('telemetry');
      assert.equal(
        frame.payload.subscription_id,
        mem,
        'the cpu frame, sent first, was not relayed',
      );
    });

    it("a client cannot unsubscribe another client's subscription", async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const a = await connectClient(hub.wsUrl);
      const b = await connectClient(hub.wsUrl);
      const id = await subscribe(a, 's', ['cpu']);
      b.send({ type: 'unsubscribe', request_id: 'u', payload: { subscription_id: id } });
      assert.equal((await b.inbox.nextOfType('error')).payload.code, ErrorCode.unknownSubscription);
    });

    it('a client disconnect ends its subscriptions', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const client = await connectClient(hub.wsUrl);
      await subscribe(client, 's', ['disk'], OTHER_DEVICE_ID);
      const changed = new Promise<readonly string[]>((resolve) => {
        const off = hub.hub.onStreamsChanged((deviceId, streams) => {
          if (deviceId !== OTHER_DEVICE_ID) return;
          off();
          resolve(streams);
        });
      });
      client.ws.close();
      assert.deepEqual(await changed, []);
      assert.deepEqual(
        hub.hub.subscriptions().filter((s) => s.deviceId === OTHER_DEVICE_ID),
        [],
      );
    });
  });

  describe('bad frames', () => {
    const cases: [string, string | Buffer, string, string | undefined][] = [
      ['not JSON', 'nope', ErrorCode.invalidJson, undefined],
      ['no type', JSON.stringify({ request_id: 'r1' }), ErrorCode.missingType, 'r1'],
      [
        'an unknown type',
        JSON.stringify({ type: 'reboot', request_id: 'r2', payload: {} }),
        ErrorCode.unknownType,
        'r2',
      ],
      [
        'a wrong field type',
        JSON.stringify({
          type: 'subscribe',
          request_id: 'r3',
          payload: { device_id: DEVICE_ID, streams: 'cpu' },
        }),
        ErrorCode.invalidPayload,
        'r3',
      ],
      // Binary frames carry stdin for byte streams (docs/protocol.md, raw bytes): 3 bytes is no header.
      [
        'a binary frame too short for its header',
        Buffer.from([1, 2, 3]),
        ErrorCode.invalidFrame,
        undefined,
      ],
      [
        'a frame nested 5000 deep',
        `{"type":"command","request_id":"r4","payload":{"device_id":"${DEVICE_ID}","x":${'['.repeat(5000)}${']'.repeat(5000)}}}`,
        ErrorCode.invalidJson,
        undefined, // refused before it is decoded: its request_id is never read
      ],
    ];
    for (const [name, data, code, requestId] of cases) {
      it(`answers ${name} with ${code} and keeps the connection`, async (t) => {
        const hub = await startHub(t, HUB_OPTIONS);
        const client = await connectClient(hub.wsUrl);
        client.ws.send(data);
        const error = await client.inbox.nextOfType('error');
        assert.equal(error.payload.code, code);
        assert.equal(error.request_id, requestId);
        await subscribe(client, 'after', ['cpu']);
      });
    }

    it('never answers an error frame', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const client = await connectClient(hub.wsUrl);
      client.send({ type: 'error', payload: { code: 'x', message: 'y' } });
      client.send({ type: 'error', request_id: 7 });
      await subscribe(client, 'marker', ['cpu']);
      assert.deepEqual(client.inbox.unread, []);
    });
  });

  describe('commands', () => {
    it('forwards a command to the agent and relays output and done with the client request_id', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const device = await connectDevice(hub.wsUrl);
      const client = await connectClient(hub.wsUrl);
      const payload = {
        device_id: DEVICE_ID,
        command: 'tail -n 50 /var/log/app.log',
        stream_output: true,
      };
      client.send({ type: 'command', request_id: 'cmd-1', payload });

      const command = await device.inbox.nextOfType('command');
      assert.deepEqual(command.payload, payload, 'the whole original payload');
      const hubId = command.request_id;
      assert.ok(hubId && hubId !== 'cmd-1', 'the hub uses its own request_id towards the agent');
      assert.equal(hub.hub.pendingRequests(), 1);

      const envelope = (seq: number) => ({ channel: 'commands', ts: TS, seq });
      device.send({
        type: 'command_output',
        request_id: hubId,
        ...envelope(3),
        payload: { chunk: 'one\n', fd: 'stdout' },
      });
      device.send({
        type: 'command_output',
        request_id: hubId,
        ...envelope(4),
        payload: { chunk: 'two\n', fd: 'stderr' },
      });
      device.send({
        type: 'command_done',
        request_id: hubId,
        ...envelope(5),
        payload: { exit_code: 0 },
        seq: 5,
      });

      assert.deepEqual(await client.inbox.next(), {
        type: 'command_output',
        request_id: 'cmd-1',
        payload: { chunk: 'one\n', fd: 'stdout' },
        seq: 3,
      });
      assert.deepEqual(await client.inbox.next(), {
        type: 'command_output',
        request_id: 'cmd-1',
        payload: { chunk: 'two\n', fd: 'stderr' },
        seq: 4,
      });
      assert.deepEqual(await client.inbox.next(), {
        type: 'command_done',
        request_id: 'cmd-1',
        payload: { exit_code: 0 },
        seq: 5,
      });
      assert.equal(hub.hub.pendingRequests(), 0, 'command_done ends the route');

      // Late output of an ended command goes nowhere.
      device.send({
        type: 'command_output',
        request_id: hubId,
        ...envelope(6),
        payload: { chunk: 'late', fd: 'stdout' },
      });
      await subscribe(client, 'marker', ['cpu']);
      assert.deepEqual(client.inbox.unread, []);
    });

    it('keeps two clients with the same request_id apart', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const device = await connectDevice(hub.wsUrl);
      const a = await connectClient(hub.wsUrl);
      const b = await connectClient(hub.wsUrl);
      a.send({
        type: 'command',
        request_id: 'same',
        payload: { device_id: DEVICE_ID, command: 'a' },
      });
      b.send({
        type: 'command',
        request_id: 'same',
        payload: { device_id: DEVICE_ID, command: 'b' },
      });
      const first = await device.inbox.nextOfType('command');
      const second = await device.inbox.nextOfType('command');
      assert.notEqual(first.request_id, second.request_id);
      const byCommand = new Map([first, second].map((f) => [f.payload.command, f.request_id]));

      device.send({
        type: 'error',
        request_id: byCommand.get('b'),
        payload: { code: 'not_allowed', message: 'no' },
      });
      device.send({
        type: 'command_done',
        request_id: byCommand.get('a'),
        payload: { exit_code: 7 },
      });
      assert.deepEqual(await a.inbox.next(), {
        type: 'command_done',
        request_id: 'same',
        payload: { exit_code: 7 },
      });
      assert.deepEqual(await b.inbox.next(), {
        type: 'error',
        request_id: 'same',
        payload: { code: 'not_allowed', message: 'no' },
      });
      assert.equal(hub.hub.pendingRequests(), 0, 'an error ends the route too');
    });

    it('refuses unknown and offline devices', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const client = await connectClient(hub.wsUrl);
      client.send({
        type: 'command',
        request_id: 'c1',
        payload: { device_id: 'ghost', command: 'x' },
      });
      const unknown = await client.inbox.next((f) => f.request_id === 'c1');
      assert.equal(unknown.payload.code, ErrorCode.unknownDevice);
      client.send({
        type: 'command',
        request_id: 'c2',
        payload: { device_id: OTHER_DEVICE_ID, command: 'x' },
      });
      const offline = await client.inbox.next((f) => f.request_id === 'c2');
      assert.equal(offline.payload.code, ErrorCode.deviceOffline);
    });

    /** A client's command, received by the device, whose link then drops. */
    async function commandThenDrop(hub: TestHub, requestId: string) {
      const device = await connectDevice(hub.wsUrl, OTHER_DEVICE_ID, 'token-dev-2');
      const client = await connectClient(hub.wsUrl);
      client.send({
        type: 'command',
        request_id: requestId,
        payload: { device_id: OTHER_DEVICE_ID, command: 'sleep 100' },
      });
      const command = await device.inbox.nextOfType('command');
      device.ws.terminate();
      return { client, command };
    }

    it('tells the client device_offline when the device disconnects mid-command', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const { client } = await commandThenDrop(hub, 'long');
      const error = await client.inbox.nextOfType('error');
      assert.deepEqual(error, {
        type: 'error',
        request_id: 'long',
        payload: { code: ErrorCode.deviceOffline, message: 'device disconnected' },
      });
      assert.equal(hub.hub.device(OTHER_DEVICE_ID)?.connected, false);
    });

    it('keeps a command through a device reconnect within the grace: the output owed still comes', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const { client, command } = await commandThenDrop(hub, 'kept');
      const again = await connectDevice(hub.wsUrl, OTHER_DEVICE_ID, 'token-dev-2');
      again.send({
        type: 'command_done',
        request_id: command.request_id,
        channel: 'commands',
        ts: TS,
        payload: { exit_code: 0 },
      });
      const done = await client.inbox.nextOfType('command_done');
      assert.equal(done.request_id, 'kept');
      assert.equal(
        hub.hub.pendingRequests(),
        0,
        'ended by its done: the grace timer finds nothing',
      );
    });

    it('drops the routes of a client that disconnects', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const device = await connectDevice(hub.wsUrl);
      const client = await connectClient(hub.wsUrl);
      client.send({
        type: 'command',
        request_id: 'c',
        payload: { device_id: DEVICE_ID, command: 'x' },
      });
      const command = await device.inbox.nextOfType('command');
      assert.equal(hub.hub.pendingRequests(), 1);
      client.ws.close();
      await waitFor(() => hub.hub.pendingRequests() === 0);
      device.send({
        type: 'command_done',
        request_id: command.request_id,
        payload: { exit_code: 0 },
      });
    });

    it('refuses a request_id already pending on the same connection', async (t) => {
      const hub = await startHub(t, HUB_OPTIONS);
      const device = await connectDevice(hub.wsUrl);
      const client = await connectClient(hub.wsUrl);
      client.send({
        type: 'command',
        request_id: 'dup',
        payload: { device_id: DEVICE_ID, command: 'x' },
      });
      await device.inbox.nextOfType('command');
      client.send({
        type: 'command',
        request_id: 'dup',
        payload: { device_id: DEVICE_ID, command: 'y' },
      });
      const error = await client.inbox.nextOfType('error');
      assert.equal(error.payload.code, ErrorCode.duplicateRequest);
      assert.equal(error.request_id, 'dup');
    });
  });
});
