import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.js';
import { startFakeHub } from '../helpers/fake-hub.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/ws.js';

/** One agent per storage.dir: a second one refuses to start; a killed holder frees the lock. */
describe('storage.dir lock', () => {
  it('a second agent on the same storage.dir exits 75 naming the dir and the holder; after kill -9 a new one starts', async (t) => {
    const storageDir = tempDir('iottly-spool-', t);
    const hub = await startFakeHub(t);
    const start = (): AgentProcess =>
      spawnAgent(t, ['run'], {
        IOTTLY_SERVER_URL: hub.url,
        IOTTLY_DEVICE_ID: 'dev1',
        IOTTLY_AUTH_TOKEN: 'tok',
        IOTTLY_STORAGE_DIR: storageDir,
        IOTTLY_LOCAL_ENABLED: 'false',
      });
    const spoolOpened = (agent: AgentProcess) =>
      agent.waitForLog((l) => l.msg === 'spool opened', 20_000);

    const first = start();
    await spoolOpened(first);
    const second = start();
    await waitFor(() => second.child.exitCode !== null, 20_000);
    const exit = await second.exited();
    assert.equal(exit.code, 75, second.output());
    assert.match(
      second.output(),
      new RegExp(
        `storage.dir ${storageDir} is in use by another iottly-agent \\(pid ${first.child.pid}\\)`,
      ),
    );
    assert.ok(!second.logs.some((l) => l.msg === 'spool opened'), 'never touched the spool');
    assert.equal(first.child.exitCode, null, 'the holder runs on');

    await first.kill('SIGKILL'); // the subject: a holder killed -9 frees the lock
    const third = start();
    await spoolOpened(third);
    assert.equal(third.child.exitCode, null);
  });
});
