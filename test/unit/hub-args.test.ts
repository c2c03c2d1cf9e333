import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError, parseHubArgs } from '../../src/cli/hub-args.js';

const fixedKey = () => 'ik_dev_fixed';

function usage(argv: string[], pattern: RegExp): void {
  assert.throws(
    () => parseHubArgs(argv, fixedKey),
    (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.code, 'usage');
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    },
  );
}

describe('parseHubArgs', () => {
  it('has defaults and generates an API key when none is given', () => {
    assert.deepEqual(parseHubArgs([], fixedKey), {
      host: '127.0.0.1',
      port: 0,
      apiKeys: ['ik_dev_fixed'],
      apiKeyGenerated: true,
      deviceTokens: new Map(),
      deviceTokensPath: null,
      pingIntervalMs: 30_000,
      pongTimeoutMs: 10_000,
      sessionTtlMs: 900_000,
      tls: null,
      webhooksPath: null,
      logLevel: 'info',
      logFormat: 'auto',
      stateDir: null,
      maxSubscriptionsPerClient: 100,
      artifactsDir: null,
      artifactMaxBytes: 268_435_456,
      updateConcurrency: 4,
      updateKeys: [],
      broker: null,
    });
  });

  it('takes --log-format auto|json|pretty', () => {
    assert.equal(parseHubArgs(['--log-format', 'json'], fixedKey).logFormat, 'json');
    assert.equal(parseHubArgs(['--log-format', 'pretty'], fixedKey).logFormat, 'pretty');
    usage(['--log-format', 'xml'], /^--log-format: expected one of auto, json, pretty, got "xml"$/);
  });

  it('takes --max-subscriptions-per-client and refuses 0', () => {
    const flag = '--max-subscriptions-per-client';
    assert.equal(parseHubArgs([flag, '500'], fixedKey).maxSubscriptionsPerClient, 500);
    assert.throws(() => parseHubArgs([flag, '0'], fixedKey), /--max-subscriptions-per-client/);
  });

  it('takes --state-dir for delivery cursors that survive restarts', () => {
    assert.equal(parseHubArgs(['--state-dir', '/var/lib/hub'], fixedKey).stateDir, '/var/lib/hub');
    assert.throws(() => parseHubArgs(['--state-dir', ' '], fixedKey), /--state-dir/);
  });

  it('takes --webhooks FILE and refuses an empty path', () => {
    assert.equal(
      parseHubArgs(['--webhooks', '/etc/hooks.json'], fixedKey).webhooksPath,
      '/etc/hooks.json',
    );
    assert.throws(
      () => parseHubArgs(['--webhooks', ''], fixedKey),
      /--webhooks: expected a file path/,
    );
  });

  it('takes --broker URL with its username, password file and CA', () => {
    assert.deepEqual(
      parseHubArgs(
        [
          '--broker',
          'mqtts://broker.example:8883',
          '--broker-username',
          'hub1',
          '--broker-password-file',
          '/run/secrets/broker',
          '--broker-ca',
          '/etc/ca.pem',
        ],
        fixedKey,
      ).broker,
      {
        url: 'mqtts://broker.example:8883',
        username: 'hub1',
        passwordPath: '/run/secrets/broker',
        caPath: '/etc/ca.pem',
      },
    );
    assert.deepEqual(parseHubArgs(['--broker', 'mqtt://127.0.0.1:1883'], fixedKey).broker, {
      url: 'mqtt://127.0.0.1:1883',
      username: null,
      passwordPath: null,
      caPath: null,
    });
    usage(['--broker', 'http://x:1'], /^--broker: expected mqtt:\/\/HOST:PORT/);
    usage(['--broker', 'nonsense'], /^--broker: expected/);
    usage(['--broker', 'mqtt://u:p@x:1'], /^--broker: put credentials/);
    usage(['--broker-username', 'u'], /^--broker-username: expected with --broker URL$/);
    usage(['--broker', 'mqtt://x:1', '--state-dir', '/tmp/s'], /^--state-dir: not with --broker/);
    usage(
      ['--broker', 'mqtt://x:1', '--broker-ca', 'ca.pem'],
      /^--broker-ca: expected with an mqtts/,
    );
    usage(['--broker', 'mqtt://x:1', '--broker-password-file', ''], /^--broker-password-file/);
  });

  it('generates keys of the documented form', () => {
    const [key] = parseHubArgs([]).apiKeys;
    assert.match(key ?? '', /^ik_dev_[A-Za-z0-9_-]{24}$/);
    assert.notEqual(parseHubArgs([]).apiKeys[0], key);
  });

  it('reads every flag; --api-key and --device-token repeat', () => {
    const options = parseHubArgs([
      '--host',
      '0.0.0.0',
      '--port',
      '8080',
      '--api-key',
      'k1',
      '--api-key',
      'k2',
      '--device-token',
      'dev-1=t=with=equals',
      '--device-token',
      'dev-2=t2',
      '--device-tokens',
      'fleet.tokens',
      '--ping-interval-ms',
      '1000',
      '--pong-timeout-ms',
      '500',
      '--session-ttl-s',
      '60',
      '--tls-cert',
      'cert.pem',
      '--tls-key',
      'key.pem',
      '--webhooks',
      'hooks.json',
      '--log-level',
      'debug',
    ]);
    assert.deepEqual(options, {
      host: '0.0.0.0',
      port: 8080,
      apiKeys: ['k1', 'k2'],
      apiKeyGenerated: false,
      deviceTokens: new Map([
        ['dev-1', 't=with=equals'],
        ['dev-2', 't2'],
      ]),
      deviceTokensPath: 'fleet.tokens',
      pingIntervalMs: 1000,
      pongTimeoutMs: 500,
      sessionTtlMs: 60_000,
      tls: { certPath: 'cert.pem', keyPath: 'key.pem' },
      webhooksPath: 'hooks.json',
      logLevel: 'debug',
      logFormat: 'auto',
      stateDir: null,
      maxSubscriptionsPerClient: 100,
      artifactsDir: null,
      artifactMaxBytes: 268_435_456,
      updateConcurrency: 4,
      updateKeys: [],
      broker: null,
    });
  });

  it('refuses bad flags with a one-line UsageError naming the flag', () => {
    usage(['--bogus'], /--bogus/);
    usage(['--port'], /--port/);
    usage(['extra'], /extra/);
    usage(['--port', '70000'], /^--port: expected an integer from 0 to 65535, got "70000"$/);
    usage(['--port', '12ab'], /^--port: /);
    usage(['--port', '-1'], /--port/);
    usage(['--ping-interval-ms', '0'], /^--ping-interval-ms: expected an integer from 1/);
    usage(['--pong-timeout-ms', '1.5'], /^--pong-timeout-ms: /);
    usage(['--session-ttl-s', '0'], /^--session-ttl-s: expected an integer from 1 to 86400/);
    usage(['--session-ttl-s', '86401'], /^--session-ttl-s: /);
    usage(['--device-token', 'dev-1'], /^--device-token: expected DEVICE_ID=TOKEN/);
    usage(['--device-token', 'bad id=t'], /^--device-token: expected a device id matching/);
    usage(['--device-token', 'dev-1='], /^--device-token: expected a non-empty token for "dev-1"$/);
    usage(['--device-token', 'a=t', '--device-token', 'a=u'], /device "a" is given twice/);
    usage(['--device-token', 'a=t', '--device-token', 'b=t'], /a different token for every device/);
    usage(['--device-tokens', ''], /^--device-tokens: expected a file path$/);
    usage(['--api-key', ''], /^--api-key: /);
    usage(['--host', ''], /^--host: /);
    usage(['--tls-cert', 'c.pem'], /--tls-cert and --tls-key: expected both/);
    usage(['--tls-key', 'k.pem'], /--tls-cert and --tls-key: expected both/);
    usage(
      ['--log-level', 'loud'],
      /^--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"$/,
    );
  });
});
