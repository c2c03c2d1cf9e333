import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { nodeSpoolFs } from '../../src/storage/spool-fs.js';
import { Spool } from '../../src/storage/spool.js';
import { SpoolOutbox } from '../../src/storage/spool-outbox.js';
import { systemClock } from '../../src/time/clock.js';
import { spawnAgent } from '../helpers/agent-process.js';
import { captureLogger } from '../helpers/log-capture.js';
import { tempDir } from '../helpers/temp-dir.js';
import {
  DEVICE_ID,
  DEVICE_TOKEN,
  connectClient,
  startHub,
  waitFor,
  type Frame,
} from '../helpers/ws.js';

/**
 * The spool directory cannot be read when the agent starts (a directory named like a segment),
 * so it runs from memory; then the obstruction goes and the spool opens. The messages the
 * store on disk held are all reported, and the seqs the hub sees never go back.
 */
const ON_DISK = 12;

/** A store on disk as an earlier run left it: `count` cpu samples the hub never acknowledged. */
function earlierStore(dir: string, count: number): string {
  const silent = pino({ level: 'silent' });
  const spool = new Spool({
    dir,
    deviceId: DEVICE_ID,
    maxBytes: 1 << 20,
    maxAgeMs: 0,
    flushIntervalMs: 50,
    fsync: 'always',
    fsyncIntervalMs: 1_000,
    retryIntervalMs: 1_000,
    memoryMaxMessages: 1_000,
    memoryMaxBytes: 1 << 20,
    writeBeforeSend: true,
    spillAfterMs: 1_000,
    spillAtBytes: 256 * 1024,
    fs: nodeSpoolFs,
    clock: systemClock,
    logger: silent,
    newStoreId: () => 'earlier-store-1',
  });
  const outbox = new SpoolOutbox({
    spool,
    windowMessages: 100,
    highWaterBytes: 1 << 20,
    logger: silent,
  });
  outbox.start();
  for (let i = 0; i < count; i++) {
    const ts = new Date().toISOString();
    outbox.enqueue({
      type: 'telemetry',
      channel: 'telemetry',
      ts,
      payload: { device_id: DEVICE_ID, stream: 'cpu', ts, value: i },
    });
  }
  outbox.close();
  return spool.storeId;
}

describe('agent whose spool opens late', () => {
  it('reports every message of the store on disk, and the hub’s seqs never go back', async (t) => {
    const storageDir = tempDir('iottly-spool-', t);
    const earlier = earlierStore(storageDir, ON_DISK);
    const obstruction = join(storageDir, 'telemetry-9999999999999999.seg');
    mkdirSync(obstruction);

    const hubLog = captureLogger('info');
    const { hub, wsUrl } = await startHub(t, { logger: hubLog.logger });
    const client = await connectClient(wsUrl);
    const seqs: number[] = [];
    client.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame.type === 'telemetry') seqs.push(frame.seq as number);
    });
    client.send({
      type: 'subscribe',
      request_id: 'sub',
      payload: { device_id: DEVICE_ID, streams: ['cpu'] },
    });
    await client.inbox.nextOfType('subscribed');

    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: `${wsUrl}/v1/device`,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
      IOTTLY_STORAGE_DIR: storageDir,
      IOTTLY_STORAGE_RETRY_INTERVAL_MS: '300',
      IOTTLY_TELEMETRY_STREAMS: 'cpu',
      IOTTLY_TELEMETRY_INTERVAL_MS: '100',
      IOTTLY_TELEMETRY_MIN_INTERVAL_MS: '100',
      IOTTLY_TELEMETRY_RANDOM_START: 'false',
      IOTTLY_LOCAL_ENABLED: 'false',
    });
    await agent.waitForLog((l) => l.code === 'storage_degraded', 20_000);
    await waitFor(() => seqs.length >= 5, 20_000); // sent from memory
    const cursorBefore = hub.lastSeq(DEVICE_ID);

    rmdirSync(obstruction);
    await agent.waitForLog((l) => l.code === 'storage_recovered', 20_000);
    const relayedAtRecovery = seqs.length;
    await waitFor(() => seqs.length >= relayedAtRecovery + 5, 20_000);
    await waitFor(() => hubLog.lines.some((l) => l.code === 'device_dropped'), 20_000);

    const report = hubLog.lines.find((l) => l.code === 'device_dropped');
    assert.deepEqual(
      (report?.drops as Array<Record<string, unknown>>).map((d) => [
        d.reason,
        d.count,
        d.first_seq,
        d.last_seq,
        d.store_id,
      ]),
      [['store_abandoned', ON_DISK, 1, ON_DISK, earlier]],
      'every message on disk counted, in its own store’s numbering',
    );
    const backwards = seqs.filter((seq, i) => i > 0 && seq <= (seqs[i - 1] as number));
    assert.deepEqual(backwards, [], `relayed seqs only grow: ${seqs.join(' ')}`);
    assert.ok(hub.lastSeq(DEVICE_ID) > cursorBefore, 'the hub’s cursor moved on, never back');
  });
});
