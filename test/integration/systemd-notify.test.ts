import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { spawnAgent, statusIs } from '../helpers/agent-process.js';
import { startLocalHub } from '../helpers/local-hub.js';
import { startNotifyReceiver } from '../helpers/notify-receiver.js';

/**
 * sd_notify end to end: the built agent as a process, the real systemd-notify it spawns, and a
 * fake NOTIFY_SOCKET standing in for systemd. No systemd needs to run.
 */
const TOKEN = 'tok-notify';

describe('systemd notifications from the agent process', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('sends READY=1 before the hub answers, STATUS on changes, WATCHDOG=1 while healthy and STOPPING=1 on SIGTERM', async () => {
    const receiver = await startNotifyReceiver();
    cleanups.push(() => receiver.close());
    const { hub, deviceUrl } = await startLocalHub('dev1', TOKEN);
    cleanups.push(() => hub.stop());

    // A port nobody listens on first: READY=1 must not wait for the network.
    const agent = spawnAgent(['run'], {
      IOTTLY_SERVER_URL: 'ws://127.0.0.1:9/v1/device',
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: TOKEN,
      IOTTLY_RECONNECT_INITIAL_DELAY_MS: '200',
      IOTTLY_RECONNECT_MAX_DELAY_MS: '400',
      NOTIFY_SOCKET: receiver.socketPath,
      WATCHDOG_USEC: '400000',
    });
    cleanups.push(() => agent.kill('SIGKILL'));
    const ready = await receiver.waitFor('READY=1');
    assert.ok(
      ready.some((a) => a.startsWith('STATUS=')),
      'READY=1 comes with a STATUS',
    );
    await receiver.waitFor(/^STATUS=retrying in \d+ ms/);
    await agent.kill('SIGKILL');

    const online = spawnAgent(['run'], {
      IOTTLY_SERVER_URL: deviceUrl,
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: TOKEN,
      NOTIFY_SOCKET: receiver.socketPath,
      WATCHDOG_USEC: '400000',
    });
    cleanups.push(() => online.kill('SIGKILL'));
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
