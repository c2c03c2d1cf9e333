import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine } from '../helpers/agent-process.js';
import { BrokerRig, assertDelivered, assertWholeAfterHeal } from './broker-rig.js';
import { DEVICE } from './collector.js';

/**
 * Partitions between the agent and the broker (docs/protocol.md, "MQTT 5 transport"), in the
 * world of broker-rig.ts: the fault proxy swallows or resets the agent's broker connection while
 * the two hubs serve the collector on hub B. Each ends with the collector having received
 * every seq since it subscribed, in order, once, and every command answered, its output byte
 * for byte.
 */
const commandStarted = (l: LogLine) => l.msg === 'command started';

describe('delivery through partitions between agent and broker (agent over MQTT, two hubs)', () => {
  it('a cut (blackhole): the will marks the device offline, and a command sent into the cut runs once the agent is back', async (t) => {
    const rig = new BrokerRig(t);
    await rig.start();
    const { collector } = rig;
    rig.proxy.setMode('blackhole');
    // The broker has not noticed yet: it sends the command into a link the agent never reads,
    // and keeps it in the agent's persistent session when the keep-alive ends that link.
    collector.runCommand(20);
    await rig.watch.until(() => rig.watch.online(DEVICE) === false, 10_000, 'the will');
    await rig.listed(rig.hubB, false);
    assert.equal(rig.agents.logs(commandStarted).length, 0, 'nothing ran during the cut');
    rig.proxy.setMode('pass');
    const healed = Date.now();
    await collector.commandDone();
    collector.assertOutput(20);
    assert.deepEqual(collector.errors, []);
    assert.equal(rig.agents.logs(commandStarted).length, 1, 'the command ran once');
    await collector.madeAfter(healed + 1_000);
    assertDelivered(collector);
    await rig.listed(rig.hubB, true);
  });

  it('partition cycles (blackholes, resets, packets cut in the middle) during a streaming command', async (t) => {
    const rig = new BrokerRig(t);
    await rig.start();
    const { collector } = rig;
    collector.runCommand(400);
    await collector.firstOutput();
    for (let cycle = 0; cycle < 6; cycle++) {
      const online = rig.agents.onlineCount();
      if (cycle % 3 === 0) {
        const offline = rig.watch.presence.filter((p) => !p.online).length;
        rig.proxy.setMode('blackhole');
        await rig.watch.until(
          () => rig.watch.presence.filter((p) => !p.online).length > offline,
          10_000,
          'the will',
        );
      } else {
        if (cycle % 3 === 1) rig.proxy.setMode('reset');
        else rig.proxy.cutMidFrame();
        await sleep(300 + (cycle % 2) * 200);
      }
      rig.proxy.setMode('pass');
      await rig.agents.onlineAgain(online);
    }
    await assertWholeAfterHeal(collector, 400);
    assert.ok(rig.agents.onlineCount() >= 7, `${rig.agents.onlineCount()} connects`);
  });
});
