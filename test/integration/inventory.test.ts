import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { basicInventory, parseInventory } from '../../src/agent/inventory.js';
import { readSystemInventory } from '../../src/agent/system-inventory.js';
import { readInventoryInChild, selfInvocation } from '../../src/cli/inventory-child.js';
import { CLI_PATH, spawnAgent, statusIs } from '../helpers/agent-process.js';
import { DEVICE_ID, DEVICE_TOKEN, startHub } from '../helpers/ws.js';

/** A child that prints `text` (whatever `inventory` argument it is given) and exits `code`. */
function fakeChild(script: string) {
  return { command: process.execPath, args: ['-e', script, '--'], spawn, env: process.env };
}

describe('inventory', () => {
  it('`iottly-agent inventory` prints what an in-process reading finds', async () => {
    const printed = parseInventory(
      execFileSync(process.execPath, [CLI_PATH, 'inventory'], { encoding: 'utf8' }),
    );
    assert.deepEqual(printed, await readSystemInventory());
  });

  it("the agent's hello carries the child's inventory, field for field", async (t) => {
    const expected = parseInventory(
      execFileSync(process.execPath, [CLI_PATH, 'inventory'], { encoding: 'utf8' }),
    );
    assert.ok(expected);
    const hub = await startHub(t);
    const agent = spawnAgent(t, ['run'], {
      IOTTLY_SERVER_URL: `${hub.wsUrl}/v1/device`,
      IOTTLY_DEVICE_ID: DEVICE_ID,
      IOTTLY_AUTH_TOKEN: DEVICE_TOKEN,
    });
    await agent.waitForLog(statusIs('online'), 20_000);
    const hello = hub.hub.device(DEVICE_ID)?.hello as Record<string, unknown> | undefined;
    for (const [key, value] of Object.entries(expected)) assert.equal(hello?.[key], value, key);
    for (const key of ['model', 'serial'] as const) {
      if (expected[key] === undefined) assert.equal(hello?.[key], undefined, key);
    }
  });

  it('falls back to the fields Node knows on a failing, silent, hung or flooding child', async () => {
    const basic = basicInventory();
    const cases = {
      'exits 1': 'process.exit(1)',
      'prints no JSON': 'console.log("nothing here")',
      'prints a wrong shape':
        'console.log(JSON.stringify({ hostname: 7, os: "x", kernel: "k", arch: "a" }))',
      hangs: 'setInterval(() => {}, 1000)',
      floods: 'const b = "x".repeat(65536); const w = () => process.stdout.write(b, w); w()',
    };
    for (const [name, script] of Object.entries(cases)) {
      const started = performance.now();
      const found = await readInventoryInChild({ ...fakeChild(script), timeoutMs: 1_000 });
      assert.deepEqual(found, basic, name);
      assert.ok(performance.now() - started < 5_000, `${name}: bounded by the timeout`);
    }
    const missing = await readInventoryInChild({
      ...fakeChild(''),
      command: '/nonexistent/iottly-agent',
    });
    assert.deepEqual(missing, basic, 'a child that cannot start');
  });

  it('takes a valid inventory from the child, and keeps only its known fields', async () => {
    const found = await readInventoryInChild(
      fakeChild(
        'console.log(JSON.stringify({ hostname: "h", os: "Debian 12", kernel: "6.1", arch: "arm64", model: "Pi", extra: "dropped" }))',
      ),
    );
    assert.deepEqual(found, {
      hostname: 'h',
      os: 'Debian 12',
      kernel: '6.1',
      arch: 'arm64',
      model: 'Pi',
    });
    assert.equal(parseInventory(JSON.stringify({ ...found, serial: 'x'.repeat(257) })), null);
  });

  it('starts the single executable without a script, node with one', () => {
    assert.deepEqual(
      selfInvocation('/usr/bin/node', ['/usr/bin/node', '/opt/cli.js', 'run'], false),
      {
        command: '/usr/bin/node',
        args: ['/opt/cli.js'],
      },
    );
    assert.deepEqual(
      selfInvocation(
        '/usr/bin/iottly-agent',
        ['/usr/bin/iottly-agent', '/usr/bin/iottly-agent', 'run'],
        true,
      ),
      {
        command: '/usr/bin/iottly-agent',
        args: [],
      },
    );
    assert.deepEqual(
      selfInvocation(
        '/usr/bin/iottly-agent',
        ['/usr/bin/iottly-agent', '/usr/bin/iottly-agent', 'run'],
        false,
      ),
      { command: '/usr/bin/iottly-agent', args: [] },
      'a Node without node:sea: argv[1] is the executable itself',
    );
  });
});
