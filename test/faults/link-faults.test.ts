import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Rig, TELEMETRY_INTERVAL_MS, sleep } from './rig.js';

/**
 * Link and hub faults with telemetry at 20 Hz: each ends with the stream client having
 * received every seq from the first to the last, in order, once.
 */
describe('delivery through link and hub faults', () => {
  let rig: Rig;
  afterEach(async () => rig?.stop());

  it('hub closed with 1001 and restarted', async () => {
    rig = new Rig();
    await rig.start();
    await rig.restartHub(async () => {
      await rig.hub.kill('SIGTERM');
    });
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    assert.ok(rig.agentLogs((l) => l.code === 'hub_restart').length >= 1, 'the agent saw 1001');
    rig.collector.assertComplete();
  });

  it('hub killed with SIGKILL for 3 s and restarted: no gap, no duplicate', async () => {
    rig = new Rig();
    await rig.start();
    await rig.restartHub(() => rig.hub.kill('SIGKILL'), 3_000);
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    rig.collector.assertComplete();
    // 3 s of outage at 20 Hz were spooled and delivered after the restart.
    const during = rig.collector.received.filter(
      (r) => r.value > healed - 3_000 && r.value < healed,
    );
    assert.ok(during.length >= 2_000 / TELEMETRY_INTERVAL_MS, `${during.length} from the outage`);
  });

  it('half-open link (blackhole) detected by the heartbeat and recovered', async () => {
    rig = new Rig();
    await rig.start();
    rig.proxy.setMode('blackhole');
    await rig.agent.waitForLog((l) => l.code === 'heartbeat_timeout', 5_000);
    rig.proxy.setMode('pass');
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    rig.collector.assertComplete();
  });

  it('ten partition/heal cycles (resets and frames cut in the middle)', async () => {
    rig = new Rig();
    await rig.start();
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
    rig.collector.assertComplete();
    assert.ok(rig.onlineCount() >= 11, `${rig.onlineCount()} connects`);
  });

  it('a throttled link: the backlog builds up, then drains in order', async () => {
    rig = new Rig();
    await rig.start();
    rig.proxy.throttle(1_000); // below the ~4 kB/s the agent produces
    await sleep(3_000);
    const behind = Date.now() - (rig.collector.received.at(-1)?.value ?? 0);
    rig.proxy.throttle(null);
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    rig.collector.assertComplete();
    assert.ok(behind > 500, `the throttle held the stream back ${behind} ms`);
  });
});
