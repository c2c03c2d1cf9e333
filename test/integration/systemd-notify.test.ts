import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnAgent, statusIs } from '../helpers/agent-process.js';
import { startLocalHub } from '../helpers/local-hub.js';
import { startNotifyReceiver } from '../helpers/notify-receiver.js';

/**
 * sd_notify end to end: the built agent as a process, the real systemd-notify it spawns, and a
 * fake NOTIFY_SOCKET standing in for systemd. No systemd needs to run.
 */
const TOKEN = 'tok-notify';

describe('systemd notifications from the agent process', () => {
  it('sends READY=1 before the hub answers, STATUS on changes, WATCHDOG=1 while healthy and STOPPING=1 on SIGTERM', async (t) => {
    const receiver = await startNotifyReceiver(t);
    const { deviceUrl } = await startLocalHub(t, 'dev1', TOKEN);

    // A port nobody listens on first: READY=1 must not wait for the network.
    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: 'ws://127.0.0.1:9/v1/device',
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: TOKEN,
      IOTTLY_RECONNECT_INITIAL_DELAY_MS: '200',
      IOTTLY_RECONNECT_MAX_DELAY_MS: '400',
      NOTIFY_SOCKET: receiver.socketPath,
      WATCHDOG_USEC: '400000',
    });
    const ready = await receiver.waitFor('READY=1');
    assert.ok(
      ready.some((a) => a.startsWith('STATUS=')),
      'READY=1 comes with a STATUS',
    );
    await receiver.waitFor(/^STATUS=retrying in \d+ ms/);
    await agent.kill('SIGKILL'); // so that its notifications cannot mix with the next agent's

    const online = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: deviceUrl,
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: TOKEN,
      NOTIFY_SOCKET: receiver.socketPath,
      WATCHDOG_USEC: '400000',
    });
    await online.waitForLog(statusIs('online'));
    await receiver.waitFor(/^STATUS=online since /);
    // Pets keep coming every 200 ms (half of WATCHDOG_USEC) while the agent is healthy.
    const pets = receiver.count('WATCHDOG=1');
    await receiver.waitForCount('WATCHDOG=1', pets + 3);
    online.child.kill('SIGTERM');
    const stopping = await receiver.waitFor('STOPPING=1');
    assert.ok(stopping.includes('STATUS=stopping'));
    assert.equal((await online.exited()).code, 0);
    assert.ok(!online.output().includes('systemd_notify'), online.output());
  });
});
