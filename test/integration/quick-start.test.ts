import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnAgent, statusIs, type AgentProcess } from '../helpers/agent-process.js';
import type { Owner } from '../helpers/owner.js';

/**
 * The README's quick start, as processes: `iottly-agent hub` and `iottly-agent run`, the device
 * listed as connected, and again after the hub process is restarted on its port. The bounds are
 * for a loaded machine, where a cold start of a node process alone can take seconds.
 */
const EVENTUALLY_MS = 20_000;

async function startHubProcess(
  owner: Owner,
  port: number,
): Promise<{ hub: AgentProcess; url: string }> {
  const hub = spawnAgent(owner, [
    'hub',
    '--port',
    String(port),
    '--api-key',
    'K',
    '--device-token',
    'dev1=T',
    '--log-level',
    'warn',
  ]);
  const started = Date.now();
  for (;;) {
    const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(hub.output());
    if (match?.[1]) return { hub, url: match[1] };
    if (hub.child.exitCode !== null || Date.now() - started > EVENTUALLY_MS)
      throw new Error(`hub did not start: ${hub.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves once the hub at `url` lists dev1 as connected. */
async function untilConnected(url: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const devices = (await fetch(`${url}/v1/devices?api_key=K`).then((r) => r.json())) as Array<{
      device_id: string;
      connected: boolean;
    }>;
    if (devices.find((d) => d.device_id === 'dev1')?.connected) return;
    if (Date.now() - started > timeoutMs)
      throw new Error(`dev1 not connected within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('quick start', () => {
  it('shows dev1 connected, and again within the back-off after a hub restart', async (t) => {
    const first = await startHubProcess(t, 0);
    const port = Number(new URL(first.url).port);
    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: `ws://127.0.0.1:${port}/v1/device`,
      IOTTLY_DEVICE_ID: 'dev1',
      IOTTLY_AUTH_TOKEN: 'T',
    });
    await untilConnected(first.url, EVENTUALLY_MS);

    const stopped = await first.hub.kill('SIGTERM');
    assert.equal(stopped.code, 0, 'hub exits 0 on SIGTERM');
    await agent.waitForLog((l) => l.code === 'hub_restart');

    const second = await startHubProcess(t, port);
    // Default back-off: a 1001 close reconnects after 0.5–1.5 s; failed dials while the hub was
    // down add at most 1 s and 2 s more. 15 s leaves a loaded machine room and is still half
    // the default cap, 30 s.
    await untilConnected(second.url, 15_000);
    await agent.waitForLog(statusIs('online'));
    assert.equal((await agent.kill('SIGTERM')).code, 0);
  });
});
