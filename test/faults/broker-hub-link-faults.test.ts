import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine } from '../helpers/agent-process.js';
import { BrokerRig, assertWholeAfterHeal } from './broker-rig.js';

/**
 * A partition between a hub and the broker (docs/protocol.md, "MQTT 5 transport", "The hubs"),
 * in the world of broker-rig.ts: hub B, which serves the collector but does not own the device,
 * loses its broker connection while hub A goes on acknowledging. It ends with the collector
 * having received every seq since it subscribed, in order, once, and the command answered, its
 * output byte for byte.
 */
const brokerConnected = (l: LogLine) => l.msg === 'connected to the MQTT broker';

describe('delivery through a partition between hub and broker (agent over MQTT, two hubs)', () => {
  it('hub B cut from the broker for 2 s: what it missed reaches its client once it is back', async (t) => {
    const rig = new BrokerRig(t);
    await rig.start();
    const { collector, hubB } = rig;
    collector.runCommand(200);
    await collector.firstOutput();
    const connects = () => hubB.process.logs.filter(brokerConnected).length;
    const before = connects();
    // Hub A owns the device and goes on acknowledging: the agent's spool lets go of what hub B
    // has not seen, so only the broker, holding hub B's session, can hand it over.
    hubB.proxy.setMode('reset');
    await hubB.process.waitForLog((l) => l.code === 'broker_link_failed', 10_000);
    await sleep(2_000);
    hubB.proxy.setMode('pass');
    await hubB.process.waitForLog(() => connects() > before, 15_000);
    await assertWholeAfterHeal(collector, 200);
  });
});
