import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { statusIs } from '../helpers/agent-process.js';
import { BrokerRig, assertDelivered, assertWholeAfterHeal } from './broker-rig.js';
import { DEVICE, type Collector } from './collector.js';

/**
 * Hub and agent processes killed on the fleet path (docs/protocol.md, "MQTT 5 transport"), in
 * the world of broker-rig.ts: the agent over `mqtt://` through the fault proxy to mosquitto, two
 * hubs on it, the collector on hub B. Each ends with the collector having received every seq
 * since it subscribed, in order, once, and every command answered, its output byte for byte.
 */

/**
 * A client that only watches telemetry (the command is another client's): on each of its
 * connections, every telemetry seq the complete client got over the same span, once, in order.
 * Between connections is a gap: a new subscription starts with what the device sends next.
 */
function assertTelemetryOnEachConnection(watcher: Collector, complete: Collector): void {
  for (const [index, received] of watcher.connections().entries()) {
    const first = received[0]?.seq ?? 0;
    const last = received.at(-1)?.seq ?? 0;
    const expected = complete.received
      .filter((r) => r.type === 'telemetry' && r.seq >= first && r.seq <= last)
      .map((r) => r.seq);
    assert.ok(received.length > 0, `connection ${index + 1} received telemetry`);
    assert.deepEqual(
      received.map((r) => r.seq),
      expected,
      `connection ${index + 1}: every telemetry seq once, in order`,
    );
  }
}

describe('delivery through hub and agent SIGKILLs (agent over MQTT, two hubs)', () => {
  it("hub A, the device's owner, SIGKILLed: hub B relays on with no seq missing or repeated, and A's client moves to B", async (t) => {
    const rig = new BrokerRig(t);
    await rig.start();
    const { collector, hubA, hubB } = rig;
    const moving = await rig.connectCollector(hubA);
    collector.runCommand(300);
    await collector.firstOutput();
    await moving.nextTelemetry();
    await hubA.process.kill('SIGKILL');
    // Its will clears its presence: the device moves to hub B.
    await rig.watch.until(() => !rig.watch.hubs.has(hubA.id), 10_000, "hub A's will");
    assert.equal(rig.watch.ownerOf(DEVICE), hubB.id);
    // Hub B welcomes the online device with the cursor: the agent sends again what hub A had
    // not acknowledged, and hub B relays none of it twice.
    await hubB.process.waitForLog((l) => l.msg === 'device taken over', 10_000);
    await rig.agent.waitForLog((l) => l.code === 'link_rewound', 10_000);
    await moving.until(() => !moving.connected(), 10_000, "hub A's client connection ended");
    await moving.connect(hubB.port);
    const healed = Date.now();
    await assertWholeAfterHeal(collector, 300);
    await moving.madeAfter(healed + 1_000);
    assertTelemetryOnEachConnection(moving, collector);
  });

  it('agent SIGKILLed mid-stream, then restarted: the spool resends, nothing reaches the client twice', async (t) => {
    // Write before send: nothing is lost to the kill (memory first loses the last second's
    // unacknowledged messages; agent-faults.test.ts proves that bound).
    const rig = new BrokerRig(t, { agentEnv: { IOTTLY_STORAGE_WRITE_BEFORE_SEND: 'true' } });
    await rig.start();
    const { collector } = rig;
    collector.runCommand(400);
    await collector.firstOutput();
    rig.proxy.setMode('blackhole'); // messages pile up unacknowledged in the spool
    await sleep(500);
    await rig.agent.kill('SIGKILL'); // the agent's end ends its command too
    rig.proxy.setMode('reset');
    rig.proxy.setMode('pass');
    const restarted = rig.startAgent();
    await restarted.waitForLog(statusIs('online'), 15_000);
    const healed = Date.now();
    await collector.madeAfter(healed + 1_000);
    collector.assertOutput(400, { complete: false });
    // The killed command died with the agent process: the restarted agent's hello does not list
    // it, so its client hears request_lost (and its command_done), not silence.
    await collector.commandDone();
    assert.equal((collector.done?.error as { code?: string } | undefined)?.code, 'request_lost');
    assert.ok(
      collector.errors.some((e) => e.code === 'request_lost'),
      JSON.stringify(collector.errors),
    );
    // A new command on the restarted agent streams completely.
    collector.runCommand(40);
    await collector.commandDone();
    collector.assertOutput(40);
    assertDelivered(collector);
  });
});
