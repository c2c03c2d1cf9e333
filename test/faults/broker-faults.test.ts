import { describe, it } from 'node:test';
import { BrokerRig, assertWholeAfterHeal } from './broker-rig.js';

/**
 * Broker restarts on the fleet path (docs/protocol.md, "MQTT 5 transport"), in the world of
 * broker-rig.ts: the agent over `mqtt://` through the fault proxy to mosquitto, two hubs on it,
 * the collector on hub B. Each ends with the collector having received every seq since it
 * subscribed, in order, once, and the command answered, its output byte for byte.
 */
describe('delivery through a broker restart (agent over MQTT, two hubs)', () => {
  it('broker restarted gracefully: the stream and the command go on', async (t) => {
    const rig = new BrokerRig(t);
    await rig.start();
    const { collector } = rig;
    collector.runCommand(200);
    await collector.firstOutput();
    const online = rig.agents.onlineCount();
    await rig.broker.restart();
    await rig.agents.onlineAgain(online);
    await assertWholeAfterHeal(collector, 200);
  });

  it("broker SIGKILLed and started again: the agent's spool makes up what the broker lost", async (t) => {
    // Killed, mosquitto comes back from its last autosave (every second here, and not the last
    // retained cursor: the owner publishes a new one when it welcomes), without what it had
    // taken from the agent (PUBACK) but not yet delivered to the hubs, nor what it had queued
    // for them. The agent drops from its spool only what the owning hub acknowledged, so after
    // the owner's new welcome it sends all that again, and the hubs drop what they had relayed
    // before: the client sees each seq once.
    const rig = new BrokerRig(t);
    await rig.start();
    const { collector } = rig;
    collector.runCommand(200);
    await collector.firstOutput();
    const online = rig.agents.onlineCount();
    await rig.broker.kill();
    await rig.broker.start();
    await rig.agents.onlineAgain(online);
    await assertWholeAfterHeal(collector, 200);
  });
});
