import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exitStatus, parseExecArgs, streamUrl } from '../../src/cli/exec.js';
import { UsageError } from '../../src/cli/usage-error.js';

const env = { IOTTLY_HUB_URL: 'http://hub:8080', IOTTLY_API_KEY: 'k1' };

describe('iottly-agent exec: arguments and exit status', () => {
  it('takes DEVICE -- CMD ARGS, the hub and key from flags or the environment', () => {
    const args = parseExecArgs(['pi-17', '--', 'tar', 'c', '/etc'], env);
    assert.deepEqual(args, {
      hubUrl: 'ws://hub:8080/v1/stream',
      apiKey: 'k1',
      deviceId: 'pi-17',
      argv: ['tar', 'c', '/etc'],
      stdin: true,
      timeoutS: undefined,
    });
    const flagged = parseExecArgs(
      [
        '--hub',
        'https://h.example/base/',
        '--api-key',
        'k2',
        '-n',
        '--timeout',
        '9',
        'd',
        '--',
        'ls',
        '--',
        '-l',
      ],
      {},
    );
    assert.equal(flagged.hubUrl, 'wss://h.example/base/v1/stream');
    assert.equal(flagged.apiKey, 'k2');
    assert.equal(flagged.stdin, false);
    assert.equal(flagged.timeoutS, 9);
    assert.deepEqual(flagged.argv, ['ls', '--', '-l']);
  });

  it('refuses what it cannot run with a usage error naming what is missing', () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['pi', 'ls'], env, /the -- is required/],
      [['--', 'ls'], env, /exactly one DEVICE/],
      [['pi', '--'], env, /a command after --/],
      [['pi', '--', 'ls'], {}, /IOTTLY_HUB_URL/],
      [['pi', '--', 'ls'], { IOTTLY_HUB_URL: 'http://h' }, /IOTTLY_API_KEY/],
      [['bad/id', '--', 'ls'], env, /not a device id/],
      [['--timeout', 'x', 'pi', '--', 'ls'], env, /--timeout expects seconds/],
      [['--hub', 'ftp://h', 'pi', '--', 'ls'], env, /http\(s\) or ws\(s\)/],
    ];
    for (const [argv, e, message] of cases)
      assert.throws(
        () => parseExecArgs(argv, e),
        (err: Error) => err instanceof UsageError && message.test(err.message),
      );
  });

  it('keeps a URL that already names /v1/stream', () => {
    assert.equal(streamUrl('ws://h:1/v1/stream'), 'ws://h:1/v1/stream');
  });

  it('maps command_done to an exit code: the exit code, 128 + signal, 255 for a failure', () => {
    assert.deepEqual(exitStatus({ exit_code: 3 }), { code: 3 });
    assert.deepEqual(exitStatus({ exit_code: null, signal: 'SIGKILL' }), { code: 137 });
    assert.equal(exitStatus({ exit_code: null, signal: 'SIGTERM', timed_out: true }).code, 143);
    assert.match(
      exitStatus({ exit_code: null, signal: 'SIGTERM', timed_out: true }).message ?? '',
      /timed out/,
    );
    assert.match(exitStatus({ exit_code: 0, truncated: true }).message ?? '', /maxOutputBytes/);
    const failed = exitStatus({
      exit_code: null,
      error: { code: 'device_offline', message: 'gone' },
    });
    assert.deepEqual(failed, { code: 255, message: 'device_offline: gone' });
    assert.equal(exitStatus({ exit_code: null }).code, 255);
  });
});
