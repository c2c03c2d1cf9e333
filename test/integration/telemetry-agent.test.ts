import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';
import {
  DEVICE_ID,
  DEVICE_TOKEN,
  connectClient,
  startHub,
  waitFor,
  type Frame,
  type Peer,
  type TestHub,
} from '../helpers/ws.js';

/**
 * A live agent (the built process, reading this machine's /proc) behind the real hub, watched
 * by two `/v1/stream` clients. Its /sys is an empty folder, so "no thermal zone" holds on any
 * machine that runs the suite.
 */
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const INTERVAL_MS = 400;
const ON_DEMAND_BOUND_MS = 5_000;

async function subscribe(client: Peer, requestId: string, streams: string[]): Promise<string> {
  client.send({
    type: 'subscribe',
    request_id: requestId,
    payload: { device_id: DEVICE_ID, streams, interval_ms: INTERVAL_MS },
  });
  const reply = await client.inbox.next((f) => f.request_id === requestId);
  assert.equal(reply.type, 'subscribed', JSON.stringify(reply));
  return String(reply.payload.subscription_id);
}

function telemetryOf(stream: string, subscriptionId: string) {
  return (f: Frame) =>
    f.type === 'telemetry' &&
    f.payload.stream === stream &&
    f.payload.subscription_id === subscriptionId;
}

/** The hub and a live agent online on it, both the test's own. */
async function liveAgentBehindHub(t: Owner): Promise<{ hub: TestHub; agent: AgentProcess }> {
  const hub = await startHub(t);
  const agent = spawnAgent(t, ['run'], {
    IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
    IOTTLY_DEVICE_ID: DEVICE_ID,
    IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    IOTTLY_TELEMETRY_SYS_ROOT: tempDir('iottly-sys-', t),
    IOTTLY_TELEMETRY_MIN_INTERVAL_MS: '200',
    IOTTLY_LOG_LEVEL: 'debug',
  });
  await agent.waitForLog(statusIs('online'));
  return { hub, agent };
}

describe('telemetry from a live agent through the hub', () => {
  it('announces its streams in hello and warns once about the missing thermal zone', async (t) => {
    const { hub, agent } = await liveAgentBehindHub(t);
    await waitFor(() => hub.hub.device(DEVICE_ID)?.hello !== null);
    const capabilities = hub.hub.device(DEVICE_ID)?.hello?.capabilities ?? [];
    for (const stream of ['cpu', 'memory', 'load', 'disk', 'network.rx', 'network.tx', 'uptime'])
      assert.ok(capabilities.includes(`telemetry:${stream}`), stream);
    assert.ok(!capabilities.includes('telemetry:temperature'));
    const warnings = agent.logs.filter((l) => l.code === 'stream_unavailable');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.stream, 'temperature');
  });

  it('sends cpu and memory to two subscribers, each under its own subscription_id, the first on demand', async (t) => {
    const { hub, agent } = await liveAgentBehindHub(t);
    const a = await connectClient(hub.wsUrl);
    const b = await connectClient(hub.wsUrl);
    const subscribedAt = Date.now();
    const subA = await subscribe(a, 'sub-1', ['cpu', 'memory']);
    const subB = await subscribe(b, 'sub-1', ['cpu']);
    assert.notEqual(subA, subB);

    const first = await a.inbox.next(telemetryOf('cpu', subA), 10_000);
    // On demand, the first sample is due after half the interval asked (200 ms); on the agent's
    // own schedule it would come after its 10 s default. Half of that tells the two apart with
    // seconds to spare on a loaded machine.
    assert.ok(
      Date.now() - subscribedAt < ON_DEMAND_BOUND_MS,
      `the first sample came ${Date.now() - subscribedAt} ms after subscribing`,
    );
    for (const frame of [
      first,
      await a.inbox.next(telemetryOf('memory', subA), 5_000),
      await b.inbox.next(telemetryOf('cpu', subB), 5_000),
    ]) {
      assert.deepEqual(Object.keys(frame.payload).sort(), [
        'device_id',
        'stream',
        'subscription_id',
        'ts',
        'value',
      ]);
      assert.equal(frame.payload.device_id, DEVICE_ID);
      assert.equal(typeof frame.payload.value, 'number');
      assert.match(String(frame.payload.ts), ISO);
    }
    assert.ok(
      !b.inbox.unread.some((f) => f.payload.stream === 'memory'),
      'b did not ask for memory',
    );

    // a's unsubscribe ends a's frames (the hub answers after it stopped routing to a), not b's.
    a.send({ type: 'unsubscribe', request_id: 'u', payload: { subscription_id: subA } });
    await a.inbox.next((f) => f.type === 'unsubscribed');
    const telemetryToA = () => a.inbox.unread.filter((f) => f.type === 'telemetry').length;
    const before = telemetryToA();
    await b.inbox.next(telemetryOf('cpu', subB), 5_000);
    await b.inbox.next(telemetryOf('cpu', subB), 5_000);
    assert.equal(telemetryToA(), before);

    // b's disconnect ends the last subscription: the agent hears an empty demand.
    b.ws.close();
    await agent.waitForLog(
      (l) =>
        l.msg === 'stream clients want telemetry' &&
        Array.isArray(l.streams) &&
        l.streams.length === 0,
    );
  });
});
