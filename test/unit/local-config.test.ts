import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { createLocalApps } from '../../src/roots/local-apps-wiring.js';
import { realCommandRunner } from '../helpers/real-runner.js';

function load(env: Record<string, string>, file: unknown = {}) {
  return loadConfig({
    configPath: '/etc/iottly-agent/test.json',
    env,
    flags: {},
    readFile: () => JSON.stringify(file),
    uid: 0,
  });
}

describe('local.* configuration', () => {
  it('has documented defaults', () => {
    const { local } = load({}).config;
    assert.deepEqual(local, {
      enabled: true,
      socketPath: '/run/iottly-agent/sdk.sock',
      socketGroup: '',
      maxApps: 64,
      maxLineBytes: 1 << 20,
      appQueueLines: 1000,
      appQueueBytes: 4 * 1024 * 1024,
      totalAppQueueBytes: 16 * 1024 * 1024,
      actions: {},
    });
  });

  it('reads actions as JSON from the environment and as an object from the file', () => {
    assert.deepEqual(
      load({ IOTTLY_LOCAL_ACTIONS: '{"reboot": "systemctl reboot"}' }).config.local.actions,
      {
        reboot: 'systemctl reboot',
      },
    );
    assert.deepEqual(load({}, { local: { actions: { a: 'true' } } }).config.local.actions, {
      a: 'true',
    });
  });

  it('refuses bad actions and groups, naming the key and its source', () => {
    for (const [env, why] of [
      [
        { IOTTLY_LOCAL_ACTIONS: '[1]' },
        /local\.actions .*from env IOTTLY_LOCAL_ACTIONS.*JSON object/,
      ],
      [{ IOTTLY_LOCAL_ACTIONS: '{"a": ""}' }, /"a" needs a non-empty command line/],
      [{ IOTTLY_LOCAL_SOCKET_GROUP: 'bad group!' }, /local\.socketGroup.*group name/],
      [{ IOTTLY_LOCAL_MAX_APPS: '0' }, /local\.maxApps/],
    ] as const) {
      assert.throws(
        () => load(env),
        (err: unknown) => err instanceof ConfigError && why.test(err.message),
      );
    }
  });

  it('builds no feature when disabled, and refuses a group that does not exist', () => {
    /** What the agent's root hands the wiring, with a fixture for /etc/group. */
    const deps = (env: Record<string, string> = {}) => ({
      env,
      uid: 1000,
      runner: realCommandRunner(),
      readGroupFile: () => 'root:x:0:\n',
    });
    assert.equal(createLocalApps(load({ IOTTLY_LOCAL_ENABLED: 'false' }).config, deps()), null);
    assert.throws(
      () => createLocalApps(load({ IOTTLY_LOCAL_SOCKET_GROUP: 'apps' }).config, deps()),
      (err: unknown) =>
        err instanceof ConfigError && /local\.socketGroup: no group "apps"/.test(err.message),
    );
    const feature = createLocalApps(load({}).config, deps({ RUNTIME_DIRECTORY: '/run/x' }));
    assert.deepEqual(feature?.capabilities(), ['apps']);
  });
});
