import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TELEMETRY_INTERVAL_MS } from './collector.js';
import { Rig, sleep } from './rig.js';

/**
 * Link and hub faults with cpu telemetry at 20 Hz and a command streaming output: each ends
 * with the stream client having received every seq from the first to the last, in order,
 * once, and the command's output byte for byte.
 *
 * A hub restart ends the connections of its stream clients, and with them the commands they
 * were waiting for; there the command starts after the restart, behind the spooled backlog.
 */
describe('delivery through link and hub faults', () => {
  it('hub closed with 1001 and restarted', async (t) => {
    const rig = new Rig(t);
    await rig.start();
    await rig.restartHub(async () => {
      await rig.hub.kill('SIGTERM');
    });
    await rig.collector.nextTelemetry();
    rig.collector.runCommand(100);
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    await rig.collector.commandDone();
    assert.ok(rig.agentLogs((l) => l.code === 'hub_restart').length >= 1, 'the agent saw 1001');
    rig.collector.assertComplete();
    rig.collector.assertOutput(100);
  });

  it('hub killed with SIGKILL for 3 s and restarted: no gap, no duplicate', async (t) => {
    const rig = new Rig(t);
    await rig.start();
    await rig.restartHub(() => rig.hub.kill('SIGKILL'), 3_000);
    await rig.collector.nextTelemetry();
    rig.collector.runCommand(100);
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    await rig.collector.commandDone();
    rig.collector.assertComplete();
    rig.collector.assertOutput(100);
    // 3 s of outage at 20 Hz were spooled and delivered after the restart.
    const during = rig.collector.received.filter(
      (r) => r.type === 'telemetry' && r.tsMs > healed - 3_000 && r.tsMs < healed - 200,
    );
    assert.ok(during.length >= 2_000 / TELEMETRY_INTERVAL_MS, `${during.length} from the outage`);
  });

  it('half-open link (blackhole) detected by the heartbeat and recovered', async (t) => {
    const rig = new Rig(t);
    await rig.start();
    rig.collector.runCommand(200);
    await rig.collector.until(() => rig.collector.output.length > 0, 5_000, 'first output');
    rig.proxy.setMode('blackhole');
    await rig.agent.waitForLog((l) => l.code === 'heartbeat_timeout', 5_000);
    rig.proxy.setMode('pass');
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    await rig.collector.commandDone();
    rig.collector.assertComplete();
    rig.collector.assertOutput(200);
  });

  it('a command sent into a half-open link is answered request_lost once the agent is back', async (t) => {
    const rig = new Rig(t);
    await rig.start();
    rig.proxy.setMode('blackhole');
    // The hub has not noticed yet: it forwards the command into a link the agent never reads.
    const lost = rig.collector.runCommand(5);
    await rig.agent.waitForLog((l) => l.code === 'heartbeat_timeout', 5_000);
    rig.proxy.setMode('pass');
    const healed = Date.now();
    await rig.collector.until(
      () => rig.collector.errors.some((e) => e.request_id === lost),
      15_000,
      `an answer to ${lost}`,
    );
    assert.deepEqual(
      rig.collector.errors.map((e) => [e.request_id, e.code]),
      [[lost, 'request_lost']],
    );
    assert.equal(rig.agentLogs((l) => l.msg === 'command started').length, 0, 'it never ran');
    await rig.hub.waitForLog((l) => l.code === 'request_lost', 5_000);
    // The link works as before: the next command runs, and no seq went missing.
    rig.collector.runCommand(20);
    await rig.collector.commandDone();
    await rig.collector.madeAfter(healed + 1_000);
    rig.collector.assertComplete();
    rig.collector.assertOutput(20);
  });

  it('ten partition/heal cycles (resets and frames cut in the middle)', async (t) => {
    const rig = new Rig(t);
    await rig.start();
    rig.collector.runCommand(300);
    // Once it runs: a command lost on its way to the agent is only reported after the grace.
    await rig.collector.until(() => rig.collector.output.length > 0, 5_000, 'first output');
    for (let cycle = 0; cycle < 10; cycle++) {
      const online = rig.onlineCount();
      if (cycle % 2 === 0) rig.proxy.setMode('reset');
      else rig.proxy.cutMidFrame();
      await sleep(300 + (cycle % 3) * 150);
      rig.proxy.setMode('pass');
      await rig.agent.waitForLog(() => rig.onlineCount() > online, 10_000);
    }
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    await rig.collector.commandDone();
    rig.collector.assertComplete();
    rig.collector.assertOutput(300);
    assert.ok(rig.onlineCount() >= 11, `${rig.onlineCount()} connects`);
  });

  it('a throttled link: the backlog builds up, then drains in order', async (t) => {
    const rig = new Rig(t);
    await rig.start();
    rig.collector.runCommand(150);
    await rig.collector.until(() => rig.collector.output.length > 0, 5_000, 'first output');
    rig.proxy.throttle(1_000); // below what telemetry and the command produce
    await sleep(3_000);
    const behind = Date.now() - (rig.collector.received.findLast((r) => r.tsMs > 0)?.tsMs ?? 0);
    rig.proxy.throttle(null);
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    await rig.collector.commandDone();
    rig.collector.assertComplete();
    rig.collector.assertOutput(150);
    assert.ok(behind > 500, `the throttle held the stream back ${behind} ms`);
  });
});
