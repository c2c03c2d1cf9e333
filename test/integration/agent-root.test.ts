import assert from 'node:assert/strict';
import { spawn, type SpawnOptions } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { basicInventory } from '../../src/agent/inventory.js';
import { ConfigError, loadConfig, type AgentConfig } from '../../src/config/load.js';
import type { SpawnFunction } from '../../src/process/runner.js';
import { createAgent, realAgentDependencies } from '../../src/roots/agent-root.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/ws.js';

/**
 * The agent's composition root hands its side effects down: what starts a process (commands,
 * command streams) uses the spawn and the environment it was given, and the run-as check uses
 * the uid it was given, not the test process's own.
 */
const secrets = { token: 'root-test-token', tls: {} };

function config(t: TestContext, flags: Record<string, string> = {}): AgentConfig {
  return loadConfig({
    env: {},
    flags: {
      'server.url': 'ws://127.0.0.1:1/v1/device', // nothing listens: the agent only dials
      'device.id': 'root-test',
      'auth.token': secrets.token,
      'storage.dir': tempDir('iottly-root-spool-', t),
      'local.enabled': 'false',
      ...flags,
    },
    readFile: () => {
      throw Object.assign(new Error('no config file'), { code: 'ENOENT' });
    },
  }).config;
}

function deps() {
  return realAgentDependencies(
    { logger: pino({ level: 'silent' }), inventory: basicInventory() },
    'ws://127.0.0.1:1/v1/device',
  );
}

describe("the agent's composition root", () => {
  it('starts commands and command streams with the spawn and the environment it was given', async (t) => {
    const spawned: { argv: string[]; env: SpawnOptions['env'] }[] = [];
    const recordingSpawn: SpawnFunction = (file, args, options) => {
      spawned.push({ argv: [file, ...args], env: options.env });
      return spawn(file, args, options);
    };
    const agent = createAgent(
      config(t, {
        'telemetry.intervalMs': '1000',
        'telemetry.randomStart': 'false',
        'telemetry.custom': '[{"name":"probe","command":"echo 1","timeoutMs":5000}]',
      }),
      secrets,
      {
        ...(await deps()),
        spawn: recordingSpawn,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          ROOT_TEST: 'from the root',
          IOTTLY_AUTH_TOKEN: 'never-in-a-child',
        },
      },
    );
    t.after(() => agent.stop());
    await agent.start();
    agent.context.router.dispatch(
      JSON.stringify({ type: 'command', request_id: 'r1', payload: { argv: ['true'] } }),
    );
    const stream = (): boolean => spawned.some((s) => s.argv.join(' ') === '/bin/sh -c echo 1');
    const command = (): boolean => spawned.some((s) => s.argv[0]?.endsWith('/true'));
    await waitFor(() => stream() && command(), 20_000);
    for (const { env } of spawned) {
      assert.equal(env?.ROOT_TEST, 'from the root');
      assert.equal(env?.IOTTLY_AUTH_TOKEN, undefined, "the agent's settings stay in the agent");
    }
  });

  it("checks commands.user against the uid it was given, not the process's own", async (t) => {
    const asNobody = config(t, { 'commands.user': 'nobody' });
    const real = await deps();
    assert.throws(
      () => createAgent(asNobody, secrets, { ...real, uid: 1000 }),
      (err: unknown) => err instanceof ConfigError && /root/.test(err.message),
    );
    if (process.getuid?.() === 0) createAgent(asNobody, secrets, { ...real, uid: 0 });
  });
});
