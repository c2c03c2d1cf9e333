import assert from 'node:assert/strict';
import { appendFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { statusIs } from '../helpers/agent-process.js';
import { Rig, sleep } from './rig.js';

/**
 * Agent and disk faults with cpu telemetry at 20 Hz and a command streaming output: restarts
 * mid-stream, a full spool, a torn record, a read-only spool directory.
 */
const NOBODY = { uid: 65534, gid: 65534 };

describe('delivery through agent and disk faults', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`agent ${signal} mid-stream, then restarted`, async (t) => {
      const rig = new Rig(t);
      await rig.start();
      rig.collector.runCommand(400);
      await rig.collector.until(() => rig.collector.output.length > 0, 5_000, 'first output');
      rig.proxy.setMode('blackhole'); // messages pile up unacknowledged in the spool
      await sleep(500);
      await rig.agent.kill(signal); // the agent's end ends its command too
      rig.proxy.setMode('reset');
      rig.proxy.setMode('pass');
      const restarted = rig.startAgent();
      await restarted.waitForLog(statusIs('online'), 10_000);
      const healed = Date.now();
      await rig.collector.madeAfter(healed + 1_000);
      if (signal === 'SIGTERM') await rig.collector.commandDone(); // reported before it stopped
      rig.collector.assertOutput(400, { complete: false });
      // A new command on the restarted agent streams completely.
      rig.collector.runCommand(40);
      await rig.collector.commandDone();
      rig.collector.assertOutput(40);
      rig.collector.assertComplete();
    });
  }

  it('a spool at its byte limit: oldest telemetry dropped, drop report received, nothing else lost', async (t) => {
    // Room for the command's output (~10 kB), not for several seconds of telemetry besides.
    const rig = new Rig(t, { agentEnv: { IOTTLY_STORAGE_MAX_BYTES: '24576' } });
    await rig.start();
    rig.collector.runCommand(150);
    await rig.collector.until(() => rig.collector.output.length > 0, 5_000, 'first output');
    rig.proxy.setMode('reset');
    await rig.agent.waitForLog((l) => l.code === 'spool_dropped', 15_000);
    await sleep(500);
    rig.proxy.setMode('pass');
    const healed = Date.now();
    const report = await rig.hub.waitForLog((l) => l.code === 'device_dropped', 15_000);
    await rig.collector.madeAfter(healed + 1_000);
    await rig.collector.commandDone();
    rig.collector.assertOutput(150);
    const drops = report.drops as Array<{
      lane: string;
      count: number;
      first_seq: number;
      last_seq: number;
    }>;
    assert.ok(drops.length > 0 && drops.every((d) => d.lane === 'telemetry'), 'telemetry only');
    const received = new Set(rig.collector.received.map((r) => r.seq));
    const missing = new Set<number>([report.seq as number]); // the report itself is a status message
    for (const drop of drops) {
      const gone = [];
      for (let seq = drop.first_seq; seq <= drop.last_seq; seq++)
        if (!received.has(seq)) gone.push(seq);
      assert.equal(gone.length, drop.count, 'exactly the reported messages are missing');
      for (const seq of gone) missing.add(seq);
    }
    rig.collector.assertComplete(missing);
  });

  it('a torn spool record is skipped with a log line, never a crash', async (t) => {
    const rig = new Rig(t);
    await rig.start();
    rig.proxy.setMode('reset');
    await sleep(500);
    await rig.agent.kill('SIGKILL');
    const last = rig.segments().at(-1) as string;
    const torn = Buffer.alloc(30);
    torn.writeUInt32LE(500, 0); // a record header promising more bytes than were written
    appendFileSync(join(rig.storageDir, last), torn);
    rig.proxy.setMode('pass');
    const restarted = rig.startAgent();
    await restarted.waitForLog((l) => l.code === 'spool_torn_record', 10_000);
    await restarted.waitForLog(statusIs('online'), 10_000);
    rig.collector.runCommand(40);
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    await rig.collector.commandDone();
    rig.collector.assertComplete();
    rig.collector.assertOutput(40);
    assert.equal(restarted.child.exitCode, null);
  });

  it('a read-only spool directory degrades to memory, then recovers', async (t) => {
    const rig = new Rig(t, {
      agentUser: NOBODY, // root ignores file modes
      agentEnv: { IOTTLY_STORAGE_MAX_BYTES: '65536' },
    });
    await rig.start();
    rig.collector.runCommand(200);
    await rig.collector.until(() => rig.collector.output.length > 0, 5_000, 'first output');
    chmodSync(rig.storageDir, 0o555);
    await rig.agent.waitForLog((l) => l.code === 'storage_degraded', 15_000);
    await sleep(1_000);
    chmodSync(rig.storageDir, 0o755);
    await rig.agent.waitForLog((l) => l.code === 'storage_recovered', 10_000);
    const healed = Date.now();
    await rig.collector.madeAfter(healed + 1_000);
    await rig.collector.commandDone();
    rig.collector.assertComplete();
    rig.collector.assertOutput(200);
    assert.equal(rig.agent.child.exitCode, null);
  });
});
