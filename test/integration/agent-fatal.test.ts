import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import { runningMembers } from '../../src/process/group-members.js';
import {
  CLI_PATH,
  spawnAgentCommand,
  statusIs,
  type AgentProcess,
} from '../helpers/agent-process.js';
import { tempDir } from '../helpers/temp-dir.js';
import { DEVICE_ID, DEVICE_TOKEN, connectClient, startHub, waitFor } from '../helpers/ws.js';

/**
 * An error nothing caught (issue 13): the agent logs it as fatal, kills the process group of
 * every running command and exits 70, as README promises. The failure is planted by a preload
 * fixture, so the agent itself carries no test hook.
 */
const CRASH_FIXTURE = fileURLToPath(new URL('../fixtures/crash-on-marker.mjs', import.meta.url));

async function crashingAgent(
  t: TestContext,
  kind: 'exception' | 'rejection',
): Promise<{ agent: AgentProcess; marker: string; hubWsUrl: string }> {
  const hub = await startHub(t);
  const marker = join(tempDir('iottly-fatal-', t), 'crash-now');
  const agent = spawnAgentCommand(
    t,
    process.execPath,
    ['--import', CRASH_FIXTURE, CLI_PATH, 'run'],
    {
      IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
      IOTTLY_TEST_CRASH_MARKER: marker,
      IOTTLY_TEST_CRASH_KIND: kind,
    },
  );
  await agent.waitForLog(statusIs('online'));
  return { agent, marker, hubWsUrl: hub.wsUrl };
}

describe('agent: an uncaught error', () => {
  it('kills the running command group, logs the error as fatal and exits 70', async (t) => {
    const { agent, marker, hubWsUrl } = await crashingAgent(t, 'exception');
    const client = await connectClient(hubWsUrl);
    client.send({
      type: 'command',
      request_id: 'long',
      payload: { device_id: DEVICE_ID, argv: ['sleep', '60'] },
    });
    const started = await agent.waitForLog((l) => l.msg === 'command started');
    const pgid = Number(started.pid);
    t.after(() => {
      try {
        process.kill(-pgid, 'SIGKILL'); // only if the agent left it behind
      } catch {
        // gone, as it should be
      }
    });
    assert.equal(runningMembers(pgid).length, 1, 'sleep runs in its own group');

    writeFileSync(marker, '');
    const exit = await agent.exited();
    assert.equal(exit.code, 70, agent.output().slice(-2000));
    await waitFor(() => runningMembers(pgid).length === 0, 5_000);
    const fatal = agent.logs.find((l) => l.level === 'fatal');
    assert.ok(fatal, 'a fatal log line');
    assert.equal(fatal.code, 'fatal_error');
    assert.match(fatal.msg, /uncaught exception: planted failure/);
    assert.equal((fatal.err as { message?: string } | undefined)?.message, 'planted failure');
    assert.equal(fatal.commandsKilled, 1);
  });

  it('treats an unhandled rejection the same way', async (t) => {
    const { agent, marker } = await crashingAgent(t, 'rejection');
    writeFileSync(marker, '');
    assert.equal((await agent.exited()).code, 70);
    const fatal = agent.logs.find((l) => l.level === 'fatal');
    assert.match(String(fatal?.msg), /unhandled rejection: planted rejection/);
  });
});
