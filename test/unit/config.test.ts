import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, type ConfigSources } from '../../src/config/load.js';
import { resolveRunSecrets } from '../../src/config/resolve.js';
import { envName, flagName, leafAt, leafKeys } from '../../src/config/schema.js';
import { problemsOf } from '../helpers/config-problems.js';

function files(map: Record<string, string>): ConfigSources['readFile'] {
  return (path) => {
    if (!(path in map)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return map[path] as string;
  };
}

function load(partial: Partial<ConfigSources> = {}) {
  return loadConfig({ env: {}, flags: {}, readFile: files({}), ...partial });
}

describe('config schema', () => {
  it('gives every key a doc, a default and a format', () => {
    for (const key of leafKeys()) {
      const leaf = leafAt(key);
      assert.ok(leaf && leaf.doc.length > 10, `${key} has a doc`);
      assert.ok(leaf.default !== undefined, `${key} has a default`);
      assert.ok(leaf.format, `${key} has a format`);
    }
  });

  it('derives the documented environment names', () => {
    const names = leafKeys().map(envName);
    for (const expected of [
      'IOTTLY_SERVER_URL',
      'IOTTLY_DEVICE_ID',
      'IOTTLY_AUTH_TOKEN',
      'IOTTLY_AUTH_TOKEN_FILE',
      'IOTTLY_HEARTBEAT_INTERVAL_MS',
      'IOTTLY_HEARTBEAT_TIMEOUT_MS',
      'IOTTLY_RECONNECT_INITIAL_DELAY_MS',
      'IOTTLY_RECONNECT_MAX_DELAY_MS',
      'IOTTLY_LOG_LEVEL',
    ]) {
      assert.ok(names.includes(expected), `${expected} exists`);
    }
    assert.equal(flagName('heartbeat.intervalMs'), 'heartbeat-interval-ms');
  });
});

describe('loadConfig', () => {
  it('uses defaults when the default file is absent', () => {
    const { config, filePath, sourceOf } = load();
    assert.equal(filePath, null);
    assert.equal(config.heartbeat.intervalMs, 30_000);
    assert.equal(config.heartbeat.timeoutMs, 10_000);
    assert.equal(config.reconnect.initialDelayMs, 1_000);
    assert.equal(config.reconnect.maxDelayMs, 30_000);
    assert.equal(sourceOf('heartbeat.intervalMs'), 'default');
  });

  it('an explicit file that is missing is an error', () => {
    const problems = problemsOf(() => load({ configPath: '/nope.json' }));
    assert.match(problems[0] ?? '', /config file \/nope\.json: cannot read it \(ENOENT\)/);
  });

  it('applies defaults < file < env < flags', () => {
    const readFile = files({
      '/etc/iottly-agent/config.json': JSON.stringify({
        heartbeat: { intervalMs: 1000, timeoutMs: 2000 },
        reconnect: { initialDelayMs: 10 },
        log: { level: 'debug' },
      }),
    });
    const { config, sourceOf } = load({
      readFile,
      env: { IOTTLY_HEARTBEAT_INTERVAL_MS: '3000', IOTTLY_HEARTBEAT_TIMEOUT_MS: '4000' },
      flags: { 'heartbeat.intervalMs': '5000' },
    });
    assert.equal(config.heartbeat.intervalMs, 5000);
    assert.equal(config.heartbeat.timeoutMs, 4000);
    assert.equal(config.reconnect.initialDelayMs, 10);
    assert.equal(config.log.level, 'debug');
    assert.equal(config.reconnect.maxDelayMs, 30_000);
    assert.equal(sourceOf('heartbeat.intervalMs'), 'flag --heartbeat-interval-ms');
    assert.equal(sourceOf('heartbeat.timeoutMs'), 'env IOTTLY_HEARTBEAT_TIMEOUT_MS');
    assert.equal(sourceOf('reconnect.initialDelayMs'), 'file /etc/iottly-agent/config.json');
    assert.equal(sourceOf('reconnect.maxDelayMs'), 'default');
  });

  it('keeps JSON nested past the bound in an env variable or flag out of convict (issue 13)', () => {
    const deep = `${'['.repeat(5_000)}${']'.repeat(5_000)}`;
    const env = { IOTTLY_COMMANDS_ALLOW: deep, IOTTLY_TELEMETRY_CUSTOM: deep };
    const problems = problemsOf(() => load({ env, flags: { 'commands.deny': deep } }));
    for (const key of ['commands.allow', 'commands.deny', 'telemetry.custom'])
      assert.ok(
        problems.some((p) => p.startsWith(`${key} = `)),
        `${key} refused: ${problems.join('; ')}`,
      );
  });

  it('names key, value, source and expectation of a bad value', () => {
    const env = { IOTTLY_HEARTBEAT_INTERVAL_MS: '30s' };
    assert.deepEqual(
      problemsOf(() => load({ env })),
      [
        'heartbeat.intervalMs = "30s" (from env IOTTLY_HEARTBEAT_INTERVAL_MS): must be an integer from 1 to 86400000',
      ],
    );
    const fromFile = problemsOf(() =>
      load({
        configPath: '/c.json',
        readFile: files({ '/c.json': '{"reconnect":{"maxDelayMs":-1},"log":{"level":"loud"}}' }),
      }),
    );
    assert.equal(fromFile.length, 2);
    assert.match(
      fromFile.join('\n'),
      /reconnect\.maxDelayMs = -1 \(from file \/c\.json\): must be an integer/,
    );
    assert.match(
      fromFile.join('\n'),
      /log\.level = "loud" \(from file \/c\.json\): must be one of the possible values/,
    );
    const fromFlag = problemsOf(() => load({ flags: { 'server.url': 'http://example.com' } }));
    assert.match(
      fromFlag[0] ?? '',
      /server\.url = "http:\/\/example\.com" \(from flag --server-url\): must be a ws:\/\/, wss:\/\/, mqtt:\/\/ or mqtts:\/\/ URL \(got http:\/\/\)/,
    );
  });

  it('takes an MQTT broker URL, with the session expiry defaulting to one day', () => {
    for (const url of ['mqtt://127.0.0.1:1883', 'mqtts://broker.example.com:8883']) {
      const { config } = load({ flags: { 'server.url': url } });
      assert.equal(config.server.url, url);
      assert.equal(config.mqtt.sessionExpiryS, 86_400);
    }
    const { config } = load({ env: { IOTTLY_MQTT_SESSION_EXPIRY_S: '60' } });
    assert.equal(config.mqtt.sessionExpiryS, 60);
    const problems = problemsOf(() => load({ env: { IOTTLY_MQTT_SESSION_EXPIRY_S: '1h' } }));
    assert.match(problems[0] ?? '', /^mqtt\.sessionExpiryS = "1h" \(from env/);
  });

  it('rejects unknown keys in the file (typos) and files that are not JSON objects', () => {
    const typo = problemsOf(() =>
      load({
        configPath: '/c.json',
        readFile: files({ '/c.json': '{"heartbeat":{"intervalMS":5}}' }),
      }),
    );
    assert.match(
      typo[0] ?? '',
      /heartbeat\.intervalMS: unknown configuration key \(from file \/c\.json\)/,
    );
    assert.match(
      problemsOf(() =>
        load({ configPath: '/c.json', readFile: files({ '/c.json': '{oops' }) }),
      )[0] ?? '',
      /config file \/c\.json: not valid JSON/,
    );
    assert.match(
      problemsOf(() => load({ configPath: '/c.json', readFile: files({ '/c.json': '[]' }) }))[0] ??
        '',
      /expected a JSON object, got array/,
    );
  });

  it('never prints a secret value in an error or in the redacted view', () => {
    const secret = 'tok-SECRET-123';
    const loaded = load({
      env: {
        IOTTLY_AUTH_TOKEN: secret,
        IOTTLY_SERVER_URL: 'ws://h/v1/device',
        IOTTLY_DEVICE_ID: 'd',
      },
    });
    assert.equal(loaded.config.auth.token, secret);
    assert.ok(!JSON.stringify(loaded.redacted()).includes(secret));
    assert.equal(loaded.redacted().auth.token, '[redacted]');
    const bad = problemsOf(() =>
      load({
        configPath: '/c.json',
        readFile: files({ '/c.json': JSON.stringify({ auth: { token: 12345 } }) }),
      }),
    );
    assert.ok(!bad.join('\n').includes('12345'), bad.join('\n'));
  });
});

describe('resolveRunSecrets', () => {
  const base = { IOTTLY_SERVER_URL: 'ws://127.0.0.1:1/v1/device', IOTTLY_DEVICE_ID: 'dev1' };
  const readBuffer = (map: Record<string, string>) => (path: string) =>
    Buffer.from(files(map)(path));

  it('requires url, device id and a token, naming each', () => {
    const problems = problemsOf(() => resolveRunSecrets(load(), readBuffer({})));
    assert.deepEqual(
      problems.map((p) => p.split(' ')[0]),
      ['server.url', 'device.id', 'auth.token'],
    );
  });

  it('reads the token file and trims it', () => {
    const loaded = load({ env: { ...base, IOTTLY_AUTH_TOKEN_FILE: '/run/token' } });
    assert.equal(resolveRunSecrets(loaded, readBuffer({ '/run/token': 'abc\n' })).token, 'abc');
    const missing = problemsOf(() => resolveRunSecrets(loaded, readBuffer({})));
    assert.match(
      missing[0] ?? '',
      /auth\.tokenFile \(from env IOTTLY_AUTH_TOKEN_FILE\): cannot read \/run\/token/,
    );
  });

  it('refuses both token and token file, half a client certificate, and TLS files with ws://', () => {
    const loaded = load({
      env: { ...base, IOTTLY_AUTH_TOKEN: 't', IOTTLY_AUTH_TOKEN_FILE: '/f', IOTTLY_TLS_CERT: '/c' },
    });
    const problems = problemsOf(() =>
      resolveRunSecrets(loaded, readBuffer({ '/f': 'x', '/c': 'pem' })),
    );
    assert.match(problems.join('\n'), /not both/);
    assert.match(problems.join('\n'), /tls\.key .*go together/);
    assert.match(problems.join('\n'), /URL is ws:\/\//);
    const overMqtt = load({
      env: { ...base, IOTTLY_SERVER_URL: 'mqtt://127.0.0.1:1', IOTTLY_TLS_CA: '/ca' },
    });
    const mqttProblems = problemsOf(() =>
      resolveRunSecrets(overMqtt, readBuffer({ '/ca': 'pem' })),
    );
    assert.match(mqttProblems.join('\n'), /URL is mqtt:\/\/ \(plain text\); use mqtts:\/\//);
  });

  it('refuses a bad device id and a max delay below the initial delay', () => {
    const loaded = load({
      env: {
        ...base,
        IOTTLY_AUTH_TOKEN: 't',
        IOTTLY_DEVICE_ID: 'has space',
        IOTTLY_RECONNECT_MAX_DELAY_MS: '10',
      },
    });
    const problems = problemsOf(() => resolveRunSecrets(loaded, readBuffer({})));
    assert.match(problems.join('\n'), /device\.id \(from env IOTTLY_DEVICE_ID\): must be 1-128/);
    assert.match(
      problems.join('\n'),
      /reconnect\.maxDelayMs \(from env IOTTLY_RECONNECT_MAX_DELAY_MS\): must be at least/,
    );
  });
});
