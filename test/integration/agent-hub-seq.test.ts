import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_SEQ } from '../../src/protocol/fields.js';
import { MAX_SEQ_BASE } from '../../src/protocol/seq-range.js';
import { spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import { startFakeHub, type FakeHub, type FakeHubConnection } from '../helpers/fake-hub.js';
import type { Owner } from '../helpers/owner.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * A hub whose `welcome.last_seq` leaves no room to number on (2^48 − 1) must not poison the
 * spool: the agent refuses that welcome (not used, not stored) and keeps spooling; after a
 * restart a genuine hub gets valid seqs.
 */
function agentOn(owner: Owner, hub: FakeHub, storageDir: string): AgentProcess {
  return spawnAgent(owner, ['run'], {
    IOTTLY_SERVER_URL: hub.url,
    IOTTLY_DEVICE_ID: 'dev1',
    IOTTLY_AUTH_TOKEN: 'tok',
    IOTTLY_STORAGE_DIR: storageDir,
    IOTTLY_RECONNECT_INITIAL_DELAY_MS: '100',
    IOTTLY_RECONNECT_MAX_DELAY_MS: '400',
    IOTTLY_TELEMETRY_STREAMS: 'cpu',
    IOTTLY_TELEMETRY_INTERVAL_MS: '100',
    IOTTLY_TELEMETRY_MIN_INTERVAL_MS: '100',
    IOTTLY_TELEMETRY_RANDOM_START: 'false',
    IOTTLY_LOCAL_ENABLED: 'false',
    IOTTLY_LOG_LEVEL: 'debug',
  });
}

/** Waits for the hello on `connection` and answers it with a welcome carrying `lastSeq`. */
async function welcome(
  connection: FakeHubConnection,
  lastSeq: number,
): Promise<Record<string, unknown>> {
  const hello = await connection.nextFrame((f) => f.type === 'hello');
  connection.socket.send(
    JSON.stringify({ type: 'welcome', payload: { device_id: 'dev1', last_seq: lastSeq } }),
  );
  return hello.payload as Record<string, unknown>;
}

describe('agent and a hub seq it cannot use', () => {
  it('refuses welcome.last_seq = 2^48 − 1 without storing it; after a restart a genuine hub gets valid seqs', async (t) => {
    const storageDir = tempDir('iottly-spool-', t);
    const broken = await startFakeHub(t, { welcome: false });
    let next = broken.nextConnection(20_000);
    const agent = agentOn(t, broken, storageDir);

    const hellos: Array<Record<string, unknown>> = [];
    for (let round = 0; round < 2; round++) {
      const connection = await next;
      next = broken.nextConnection(20_000);
      hellos.push(await welcome(connection, MAX_SEQ));
      await agent.waitForLog((l) => l.code === 'hub_seq_invalid' && hellos.length === round + 1);
    }
    await next; // and it dials again after its back-off
    const [first, second] = hellos;
    assert.equal(second?.store_id, first?.store_id, 'no store rotation');
    assert.ok((second?.seq as number) <= MAX_SEQ_BASE, `hello.seq ${String(second?.seq)}`);
    assert.equal(agent.logs.filter(statusIs('online')).length, 0, 'never online with that hub');
    const meta = JSON.parse(readFileSync(join(storageDir, 'store.json'), 'utf8')) as {
      seq_floor: number;
    };
    assert.ok(meta.seq_floor <= MAX_SEQ_BASE, `seq_floor ${meta.seq_floor} not stored`);
    await agent.kill('SIGTERM'); // the subject: a restart

    const genuine = await startFakeHub(t, { welcome: false });
    const connecting = genuine.nextConnection(20_000);
    const restarted = agentOn(t, genuine, storageDir);
    const connection = await connecting;
    await welcome(connection, 0);
    const frames = await Promise.all(
      [0, 1, 2].map((i) =>
        connection.nextFrame((f) => f.type === 'telemetry' && connection.frames.indexOf(f) > i),
      ),
    );
    for (const frame of frames) {
      const seq = frame.seq as number;
      assert.ok(Number.isInteger(seq) && seq >= 1 && seq <= MAX_SEQ_BASE, `seq ${seq}`);
    }
    assert.deepEqual(
      [...agent.logs, ...restarted.logs].filter((l) => l.code === 'storage_degraded'),
      [],
      'every write succeeded',
    );
  });
});
