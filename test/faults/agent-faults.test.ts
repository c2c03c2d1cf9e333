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
/** Every message on disk before it is sent (the spool's behaviour before memory first). */
const WRITE_BEFORE_SEND = { IOTTLY_STORAGE_WRITE_BEFORE_SEND: 'true' };
const SPILL_AFTER_MS = 1_000;

describe('delivery through agent and disk faults', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`agent ${signal} mid-stream, then restarted (write before send: nothing lost)`, async (t) => {
      const rig = new Rig(t, { agentEnv: WRITE_BEFORE_SEND });
      await rig.start();
      rig.collector.runCommand(400);
      await rig.collector.until(() => rig.collector.output.length > 0, 5_000, 'first output');
      rig.proxy.setMode('blackhole'); // messages pile up unacknowledged in the spool
      await sleep(500);
      await rig.agent.kill(signal); // the agent's end ends its command too
      await rig.restartAgent();
      if (signal === 'SIGTERM') await rig.collector.commandDone(); // reported before it stopped
      rig.collector.assertOutput(400, { complete: false });
      // A new command on the restarted agent streams completely.
      rig.collector.runCommand(40);
      await rig.collector.commandDone();
      rig.collector.assertOutput(40);
      rig.collector.assertComplete();
    });
  }

  it('agent SIGKILL mid-stream, memory first: only the last spillAfterMs unacknowledged is lost', async (t) => {
    const rig = new Rig(t, {
      agentEnv: {
        IOTTLY_STORAGE_SPILL_AFTER_MS: String(SPILL_AFTER_MS),
        // The agent must still count the link as up when it dies (going offline writes all).
        IOTTLY_HEARTBEAT_INTERVAL_MS: '10000',
        IOTTLY_HEARTBEAT_TIMEOUT_MS: '10000',
      },
    });
    await rig.start();
    rig.collector.runCommand(400);
    await rig.collector.firstOutput();
    rig.proxy.setMode('blackhole'); // nothing is acknowledged: after 1 s it must be on disk
    await sleep(2_500);
    const killedAt = Date.now();
    await rig.agent.kill('SIGKILL');
    await rig.restartAgent();
    rig.collector.assertOutput(400, { complete: false });

    // The next run numbers on above the reservation: the first jump in the seqs is the restart.
    const seqs = rig.collector.received.map((r) => r.seq);
    const jump = seqs.findIndex((seq, i) => i > 0 && seq > (seqs[i - 1] as number) + 1);
    assert.ok(jump > 0, 'a gap where the unwritten seqs of the killed run were');
    const gap = new Set<number>();
    for (let seq = (seqs[jump - 1] as number) + 1; seq < (seqs[jump] as number); seq++)
      gap.add(seq);
    rig.collector.assertComplete(gap);
    // Of the killed run, telemetry (20 Hz) came without a hole up to spillAfterMs before the
    // kill (and a flush interval and a sample of slack): that much was written and resent.
    const before = rig.collector.received
      .slice(0, jump)
      .filter((r) => r.type === 'telemetry')
      .map((r) => r.tsMs);
    const holes = before.filter((ts, i) => i > 0 && ts - (before[i - 1] as number) > 200);
    assert.deepEqual(holes, [], 'telemetry of the killed run without a hole');
    const lastKept = before.at(-1) as number;
    assert.ok(
      lastKept >= killedAt - SPILL_AFTER_MS - 300,
      `telemetry kept up to ${killedAt - lastKept} ms before the kill (at most ${SPILL_AFTER_MS} + 300 lost)`,
    );

    rig.collector.runCommand(40);
    await rig.collector.commandDone();
    rig.collector.assertOutput(40);
  });

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
      // Memory first writes nothing while acks come; this is about a disk that refuses writes.
      agentEnv: { IOTTLY_STORAGE_MAX_BYTES: '65536', ...WRITE_BEFORE_SEND },
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
