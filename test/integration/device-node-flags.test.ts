import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEVICE_NODE_OPTIONS } from '../../src/cli/node-flags.js';
import { CLI_PATH, spawnAgent, statusIs } from '../helpers/agent-process.js';
import { API_KEY, DEVICE_ID, DEVICE_TOKEN, startHub, type TestHub } from '../helpers/ws.js';

/**
 * The device's V8 flags (src/cli/node-flags.ts): the unit sets exactly them, Node accepts them
 * in NODE_OPTIONS, the agent reports the heap limit they gave it, and a command the agent runs
 * does not inherit them.
 */
const UNIT = readFileSync(new URL('../../systemd/iottly-agent.service', import.meta.url), 'utf8');

/** `iottly-agent exec` as a process; its stdout. */
async function execOutput(hub: TestHub, argv: string[]): Promise<string> {
  const child = spawn(process.execPath, [CLI_PATH, 'exec', DEVICE_ID, '--', ...argv], {
    env: { PATH: process.env.PATH ?? '', IOTTLY_HUB_URL: hub.url, IOTTLY_API_KEY: API_KEY },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, out);
  return out;
}

describe('device V8 flags', () => {
  it('the systemd unit sets exactly DEVICE_NODE_OPTIONS', () => {
    const lines = UNIT.split('\n').filter((l) => l.includes('NODE_OPTIONS='));
    // Quoted: systemd splits an unquoted Environment= value at spaces.
    assert.deepEqual(lines, [`Environment="NODE_OPTIONS=${DEVICE_NODE_OPTIONS}"`]);
  });

  it('caps the agent heap, logged at start, and its commands start without NODE_OPTIONS', async (t) => {
    const hub = await startHub(t);
    const agent = spawnAgent(t, ['run'], {
      NODE_OPTIONS: DEVICE_NODE_OPTIONS,
      IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
      IOTTLY_LOG_LEVEL: 'info',
    });
    const starting = await agent.waitForLog((l) => l.msg === 'iottly-agent starting');
    assert.equal(starting.deviceNodeOptions, true);
    // 128 MiB of old space plus the young generation (at most 48 MiB on 64-bit): not V8's
    // default here, which follows the machine's memory (GiBs).
    assert.ok(Number(starting.heapLimitMiB) <= 128 + 48, `heapLimitMiB ${starting.heapLimitMiB}`);
    await agent.waitForLog(statusIs('online'));
    assert.equal(await execOutput(hub, ['sh', '-c', 'printf "[%s]" "$NODE_OPTIONS"']), '[]');
  });

  it('keeps an operator’s own NODE_OPTIONS for its commands', async (t) => {
    const hub = await startHub(t);
    const agent = spawnAgent(t, ['run'], {
      NODE_OPTIONS: '--max-old-space-size=300',
      IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
      IOTTLY_LOG_LEVEL: 'info',
    });
    const starting = await agent.waitForLog((l) => l.msg === 'iottly-agent starting');
    assert.equal(starting.deviceNodeOptions, false);
    await agent.waitForLog(statusIs('online'));
    assert.equal(
      await execOutput(hub, ['sh', '-c', 'printf "[%s]" "$NODE_OPTIONS"']),
      '[--max-old-space-size=300]',
    );
  });
});
