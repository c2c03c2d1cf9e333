import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEVICE_ID, connectClient, connectDevice, startHub, type Peer } from '../helpers/ws.js';

/**
 * The hub forwards what stream clients want to the device as `streams`: on every change, and
 * right after `welcome` when a device comes (back) while subscriptions exist.
 */
async function subscribe(client: Peer, requestId: string, payload: Record<string, unknown>) {
  client.send({
    type: 'subscribe',
    request_id: requestId,
    payload: { device_id: DEVICE_ID, ...payload },
  });
  const reply = await client.inbox.next((f) => f.request_id === requestId);
  assert.equal(reply.type, 'subscribed', JSON.stringify(reply));
  return String(reply.payload.subscription_id);
}

async function nextDemand(device: Peer): Promise<unknown> {
  return (await device.inbox.nextOfType('streams')).payload.streams;
}

describe('hub → agent stream demand', () => {
  it('sends the union of subscriptions with the fastest interval asked, on every change', async (t) => {
    const hub = await startHub(t);
    const device = await connectDevice(hub.wsUrl);
    const a = await connectClient(hub.wsUrl);
    const b = await connectClient(hub.wsUrl);
    await subscribe(a, 's1', { streams: ['cpu', 'memory'], interval_ms: 2000 });
    assert.deepEqual(await nextDemand(device), [
      { name: 'cpu', interval_ms: 2000 },
      { name: 'memory', interval_ms: 2000 },
    ]);
    const fast = await subscribe(b, 's2', { streams: ['cpu'], interval_ms: 500 });
    assert.deepEqual(await nextDemand(device), [
      { name: 'cpu', interval_ms: 500 },
      { name: 'memory', interval_ms: 2000 },
    ]);
    await subscribe(b, 's3', { streams: ['uptime'] });
    assert.deepEqual(await nextDemand(device), [
      { name: 'cpu', interval_ms: 500 },
      { name: 'memory', interval_ms: 2000 },
      { name: 'uptime' },
    ]);
    b.send({ type: 'unsubscribe', request_id: 'u', payload: { subscription_id: fast } });
    assert.deepEqual(await nextDemand(device), [
      { name: 'cpu', interval_ms: 2000 },
      { name: 'memory', interval_ms: 2000 },
      { name: 'uptime' },
    ]);
    b.ws.close(); // its last subscription ends with it
    assert.deepEqual(await nextDemand(device), [
      { name: 'cpu', interval_ms: 2000 },
      { name: 'memory', interval_ms: 2000 },
    ]);
    a.ws.close();
    assert.deepEqual(await nextDemand(device), []);
  });

  it('tells a device that connects while subscriptions exist, right after welcome', async (t) => {
    const hub = await startHub(t);
    const client = await connectClient(hub.wsUrl);
    await subscribe(client, 's', { streams: ['load'] });
    const device = await connectDevice(hub.wsUrl); // resolves on welcome
    assert.deepEqual(await nextDemand(device), [{ name: 'load' }]);
    client.ws.close();
    assert.deepEqual(await nextDemand(device), []);
  });

  it('refuses a bad interval_ms with invalid_payload', async (t) => {
    const hub = await startHub(t);
    const client = await connectClient(hub.wsUrl);
    for (const interval of ['fast', 0, 1.5]) {
      client.send({
        type: 'subscribe',
        request_id: `bad-${interval}`,
        payload: { device_id: DEVICE_ID, streams: ['cpu'], interval_ms: interval },
      });
      const error = await client.inbox.next((f) => f.request_id === `bad-${interval}`);
      assert.equal(error.payload.code, 'invalid_payload');
      assert.match(String(error.payload.message), /interval_ms/);
    }
  });

  it('delivers network.rx and network.tx to a subscription to network', async (t) => {
    const hub = await startHub(t);
    const device = await connectDevice(hub.wsUrl);
    const client = await connectClient(hub.wsUrl);
    const id = await subscribe(client, 'n', { streams: ['network'] });
    const ts = '2026-05-06T14:22:46.123Z';
    for (const [stream, value] of [
      ['network.rx', 1200],
      ['networking', 1],
      ['network.tx', 300],
    ] as const)
      device.send({ type: 'telemetry', channel: 'telemetry', ts, payload: { stream, ts, value } });
    const frames = [
      await client.inbox.nextOfType('telemetry'),
      await client.inbox.nextOfType('telemetry'),
    ];
    assert.deepEqual(
      frames.map((f) => [f.payload.subscription_id, f.payload.stream, f.payload.value]),
      [
        [id, 'network.rx', 1200],
        [id, 'network.tx', 300],
      ],
    );
  });
});
