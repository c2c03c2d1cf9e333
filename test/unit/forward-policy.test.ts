import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseForwardArgs, parseForwardSpec } from '../../src/cli/forward-args.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { ForwardPolicy, type LookupFunction } from '../../src/forward/forward-policy.js';
import {
  DEFAULT_FORWARD_ALLOW,
  compileTargets,
  forwardAllowList,
  parseTargetPattern,
  targetAllowed,
} from '../../src/forward/forward-targets.js';

/** A resolver from a table: what a name resolves to is the test's choice, no DNS involved. */
function table(entries: Record<string, string>): LookupFunction {
  return async (host) => {
    const address = entries[host];
    if (address === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return { address, family: address.includes(':') ? 6 : 4 };
  };
}

describe('forward.allow patterns', () => {
  const loopback = compileTargets(DEFAULT_FORWARD_ALLOW);

  it('lets loopback through by default, on any port, and nothing else', () => {
    assert.ok(targetAllowed(loopback, 'localhost', 80));
    assert.ok(targetAllowed(loopback, 'LOCALHOST.', 8080));
    assert.ok(targetAllowed(loopback, '127.0.0.1', 22));
    assert.ok(targetAllowed(loopback, '::1', 443));
    assert.ok(targetAllowed(loopback, '[::1]', 443));
    assert.ok(!targetAllowed(loopback, '127.0.0.2', 22));
    assert.ok(!targetAllowed(loopback, '10.0.0.1', 22));
    assert.ok(!targetAllowed(loopback, 'localhost.evil.example', 80));
    assert.ok(!targetAllowed(loopback, 'evil-localhost', 80));
  });

  it('matches * in the host across dots, and ports exactly or with *', () => {
    const patterns = compileTargets(['10.0.0.*:502', '*.plc.lan:80', '[fd00::*]:22']);
    assert.ok(targetAllowed(patterns, '10.0.0.7', 502));
    assert.ok(!targetAllowed(patterns, '10.0.0.7', 503));
    assert.ok(!targetAllowed(patterns, '10.0.1.7', 502));
    assert.ok(targetAllowed(patterns, 'a.b.plc.lan', 80));
    assert.ok(!targetAllowed(patterns, 'plc.lan', 80));
    assert.ok(targetAllowed(patterns, 'fd00::12', 22));
    assert.ok(!targetAllowed(patterns, '10.0.0', 502));
  });

  it('refuses malformed patterns in the configuration, naming the entry', () => {
    for (const bad of [
      'localhost',
      'host:',
      'host:70000',
      '::1:22',
      'a b:1',
      'host:8*',
      '[::1:22',
    ]) {
      assert.equal(typeof parseTargetPattern(bad), 'string', bad);
      const r = forwardAllowList([bad], 'forward.allow');
      assert.ok(!r.ok, bad);
      assert.match(r.error, /forward\.allow\[0\]/);
    }
    assert.ok(forwardAllowList([...DEFAULT_FORWARD_ALLOW], 'forward.allow').ok);
    assert.ok(!forwardAllowList(new Array(257).fill('a:1'), 'forward.allow').ok);
  });
});

describe('ForwardPolicy', () => {
  const names = table({
    localhost: '127.0.0.1',
    'sneaky.example': '10.1.2.3',
    'printer.lan': '192.168.1.9',
  });

  it('refuses everything while forward.enabled is false', async () => {
    const policy = new ForwardPolicy({ enabled: false, allow: ['*:*'] }, names);
    const decision = await policy.check('localhost', 80);
    assert.deepEqual(decision.ok ? null : decision.reason, 'disabled');
  });

  it('checks the host as named, then the address it resolves to, and connects to that address', async () => {
    const policy = new ForwardPolicy({ enabled: true, allow: [...DEFAULT_FORWARD_ALLOW] }, names);
    assert.deepEqual(await policy.check('localhost', 80), {
      ok: true,
      address: '127.0.0.1',
      family: 4,
    });
    assert.deepEqual(await policy.check('[::1]', 22), { ok: true, address: '::1', family: 6 });
    const far = await policy.check('10.1.2.3', 80);
    assert.equal(far.ok ? null : far.reason, 'not_allowed');
  });

  it('does not let a name carry a non-loopback address past a loopback-only list', async () => {
    const policy = new ForwardPolicy(
      { enabled: true, allow: ['*.example:*', ...DEFAULT_FORWARD_ALLOW] },
      names,
    );
    const sneaky = await policy.check('sneaky.example', 80);
    assert.ok(!sneaky.ok);
    assert.equal(sneaky.reason, 'not_allowed');
    assert.match(sneaky.message, /resolves to 10\.1\.2\.3:80/);
    const rebound = new ForwardPolicy(
      { enabled: true, allow: [...DEFAULT_FORWARD_ALLOW] },
      table({ localhost: '10.9.9.9' }),
    );
    const decision = await rebound.check('localhost', 80);
    assert.equal(decision.ok ? null : decision.reason, 'not_allowed');
  });

  it('says when the name does not resolve', async () => {
    const policy = new ForwardPolicy({ enabled: true, allow: ['*:*'] }, names);
    const decision = await policy.check('nowhere.lan', 80);
    assert.ok(!decision.ok);
    assert.equal(decision.reason, 'lookup_failed');
    assert.match(decision.message, /ENOTFOUND/);
    assert.ok((await policy.check('printer.lan', 631)).ok);
  });
});

describe('iottly-agent forward: arguments', () => {
  const env = { IOTTLY_HUB_URL: 'http://hub:8080', IOTTLY_API_KEY: 'k1' };

  it('reads LOCAL_PORT:HOST:PORT as ssh -L, binding 127.0.0.1 unless told', () => {
    assert.deepEqual(parseForwardArgs(['pi-17', '8080:localhost:80'], env), {
      hubUrl: 'ws://hub:8080/v1/stream',
      apiKey: 'k1',
      deviceId: 'pi-17',
      bindAddress: '127.0.0.1',
      localPort: 8080,
      targetHost: 'localhost',
      targetPort: 80,
    });
    assert.deepEqual(parseForwardSpec('0.0.0.0:2222:10.0.0.5:22'), {
      bindAddress: '0.0.0.0',
      localPort: 2222,
      targetHost: '10.0.0.5',
      targetPort: 22,
    });
    assert.deepEqual(parseForwardSpec('[::1]:0:[fd00::5]:502'), {
      bindAddress: '::1',
      localPort: 0,
      targetHost: 'fd00::5',
      targetPort: 502,
    });
    assert.equal(parseForwardSpec('*:80:localhost:80').bindAddress, '0.0.0.0');
    const flagged = parseForwardArgs(['--hub', 'https://h', '--api-key', 'k2', 'd', '1:h:2'], {});
    assert.equal(flagged.hubUrl, 'wss://h/v1/stream');
    assert.equal(flagged.apiKey, 'k2');
  });

  it('refuses what is not a forward spec, and a missing hub or key', () => {
    for (const spec of [
      '8080',
      '8080:host',
      'a:host:80',
      '8080:host:0',
      '8080:host:65536',
      '1:2:3:4:5',
      '[::1:80:h:1',
      'nope:1:h:2',
      '1:h h:2',
    ])
      assert.throws(() => parseForwardSpec(spec), UsageError, spec);
    assert.throws(() => parseForwardArgs(['d'], env), UsageError);
    assert.throws(() => parseForwardArgs(['d', '1:h:2'], {}), /--hub URL/);
    assert.throws(
      () => parseForwardArgs(['d', '1:h:2'], { IOTTLY_HUB_URL: 'http://h' }),
      /API key/,
    );
  });
});
