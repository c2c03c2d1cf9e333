import { describe, it } from 'node:test';
import type { Mosquitto } from '../helpers/mosquitto.js';
import { BrokerRig, assertWholeAfterHeal } from './broker-rig.js';

/**
 * Broker restarts on the fleet path (docs/protocol.md, "MQTT 5 transport"), in the world of
 * broker-rig.ts: the agent over `mqtt://` through the fault proxy to mosquitto, two hubs on it,
 * the collector on hub B. Each ends with the collector having received every seq since it
 * subscribed, in order, once, and the command answered, its output byte for byte.
 *
 * Stopped with SIGTERM, mosquitto saves its state and comes back with the sessions and what was
 * queued in them. Killed with SIGKILL, it comes back from its last autosave (every second here):
 * without what it had taken from the agent (PUBACK) but not yet delivered to the hubs, nor what
 * it had queued for them since. The agent drops from its spool only what the owning hub
 * acknowledged, so after the owner's new welcome it sends all that again, and the hubs drop what
 * they had relayed already: the spool, not the broker, is what keeps the stream whole. The kill
 * comes after a save that holds the hubs' subscriptions: one made after the last save is lost
 * with the broker's memory, and what the agent sends before that hub subscribes again reaches
 * only the others (docs/protocol.md, "The hubs": what a broker killed loses).
 */
const RESTARTS: Array<{ name: string; restart: (broker: Mosquitto) => Promise<void> }> = [
  {
    name: 'broker restarted gracefully: the stream and the command go on',
    restart: (broker) => broker.restart(),
  },
  {
    name: "broker SIGKILLed and started again: the agent's spool makes up what the broker lost",
    restart: async (broker) => {
      await broker.nextSave();
      await broker.kill();
      await broker.start();
    },
  },
];

describe('delivery through a broker restart (agent over MQTT, two hubs)', () => {
  for (const { name, restart } of RESTARTS) {
    it(name, async (t) => {
      const rig = new BrokerRig(t);
      await rig.start();
      const { collector } = rig;
      collector.runCommand(200);
      await collector.firstOutput();
      const online = rig.agents.onlineCount();
      await restart(rig.broker);
      await rig.agents.onlineAgain(online);
      await assertWholeAfterHeal(collector, 200);
    });
  }
});
