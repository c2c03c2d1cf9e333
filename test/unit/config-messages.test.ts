import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadRunConfig } from '../../src/config/run-config.js';
import { problemsOf } from '../helpers/config-problems.js';

/**
 * What a new user reads when the configuration is wrong: every problem at once, each saying how
 * to fix it, and warnings (not failures) for what is merely suspicious.
 */
function noFile(path: string): never {
  throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
}

function run(env: Record<string, string>, flags: Record<string, string> = {}) {
  const warnings: string[] = [];
  const loaded = loadRunConfig({
    env,
    flags,
    readFile: noFile,
    readSecretFile: noFile,
    uid: 0,
    homeDir: '/root',
    warn: (warning) => warnings.push(warning),
  });
  assert.deepEqual(loaded.warnings, warnings, 'every warning is told');
  return loaded;
}

const valid = {
  IOTTLY_SERVER_URL: 'ws://127.0.0.1:8080/v1/device',
  IOTTLY_DEVICE_ID: 'dev1',
  IOTTLY_AUTH_TOKEN: 'T',
};

describe('config messages', () => {
  it('a missing required key names the file key, the environment variable and the flag', () => {
    const problems = problemsOf(() => run({}));
    assert.ok(
      problems.includes(
        'server.url is required: set it in the config file as server.url, or IOTTLY_SERVER_URL, or --server-url (the hub URL, e.g. wss://hub.example.com/v1/device)',
      ),
      problems.join('\n'),
    );
    assert.match(
      problems.join('\n'),
      /^device\.id is required: .* IOTTLY_DEVICE_ID, or --device-id/m,
    );
    assert.match(
      problems.join('\n'),
      /^auth\.token is required: .*IOTTLY_AUTH_TOKEN, or --auth-token .*auth\.tokenFile/m,
    );
  });

  it('reports bad values and missing keys in one pass', () => {
    const problems = problemsOf(() =>
      run({ IOTTLY_HEARTBEAT_INTERVAL_MS: '30s', IOTTLY_LOG_LEVEL: 'loud', IOTTLY_DEVICE_ID: 'd' }),
    );
    const keys = problems.map((p) => p.split(' ')[0]);
    assert.deepEqual(keys.sort(), [
      'auth.token',
      'heartbeat.intervalMs',
      'log.level',
      'server.url',
    ]);
  });

  it('a bad value is reported once, not again as missing', () => {
    const problems = problemsOf(() => run({ ...valid, IOTTLY_SERVER_URL: 'http://h/v1/device' }));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0] ?? '', /^server\.url = "http:\/\/h\/v1\/device" \(from env/);
  });

  it('warns about an unknown IOTTLY_* variable, with the closest known name, and still loads', () => {
    const { warnings } = run({ ...valid, IOTTLY_SERVER_ULR: 'x', IOTTLY_SOMETHING_ELSE: 'y' });
    assert.deepEqual(warnings, [
      'unknown environment variable IOTTLY_SERVER_ULR (ignored); did you mean IOTTLY_SERVER_URL?',
      'unknown environment variable IOTTLY_SOMETHING_ELSE (ignored)',
    ]);
    assert.deepEqual(run(valid).warnings, []);
  });

  it('hints when server.url does not end in the device endpoint, and starts anyway', () => {
    const { warnings } = run({ ...valid, IOTTLY_SERVER_URL: 'ws://127.0.0.1:8080' });
    assert.deepEqual(warnings, [
      'server.url path is "/" — the hub\'s device endpoint is /v1/device (e.g. ws://127.0.0.1:8080/v1/device)',
    ]);
    assert.deepEqual(
      run({ ...valid, IOTTLY_SERVER_URL: 'wss://proxy.example.com/iottly/v1/device' }).warnings,
      [],
    );
    assert.deepEqual(run({ ...valid, IOTTLY_SERVER_URL: 'ws://h:1/v1/device/' }).warnings, [
      'server.url path is "/v1/device/" — the hub\'s device endpoint is /v1/device (e.g. ws://h:1/v1/device)',
    ]);
  });

  it('asks for no path of an MQTT broker: topics say where frames go', () => {
    assert.deepEqual(run({ ...valid, IOTTLY_SERVER_URL: 'mqtt://127.0.0.1:1883' }).warnings, []);
    assert.deepEqual(run({ ...valid, IOTTLY_SERVER_URL: 'mqtts://broker:8883/' }).warnings, []);
  });
});
