import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiKeys, bearerToken, presentedApiKey } from '../../src/hub/auth.js';
import { DeviceCredentials } from '../../src/hub/device-credentials.js';

describe('hub auth', () => {
  it('reads bearer tokens', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer  abc '), 'abc');
    assert.equal(bearerToken('Basic abc'), null);
    assert.equal(bearerToken('Bearer'), null);
    assert.equal(bearerToken('Bearer a b'), null);
    assert.equal(bearerToken(undefined), null);
  });

  it('takes the API key from the header first, else from ?api_key=', () => {
    const url = new URL('http://h/v1/stream?api_key=q');
    assert.equal(presentedApiKey({ authorization: 'Bearer h' }, url), 'h');
    assert.equal(presentedApiKey({}, url), 'q');
    assert.equal(presentedApiKey({}, new URL('http://h/?api_key=')), null);
  });

  it('verifies API keys', () => {
    const keys = new ApiKeys(['k1', 'k2']);
    assert.equal(keys.verify('k2'), true);
    assert.equal(keys.verify('k'), false);
    assert.equal(keys.verify('k22'), false);
    assert.equal(keys.verify(null), false);
    assert.equal(new ApiKeys([]).verify('k1'), false);
    assert.throws(() => new ApiKeys(['']), /non-empty/);
  });

  it('finds the device of a token and checks the claimed id', () => {
    const credentials = DeviceCredentials.fromTokens(
      new Map([
        ['a', 'ta'],
        ['b', 'tb'],
      ]),
    );
    assert.deepEqual(credentials.authenticate({ authorization: 'Bearer tb' }), {
      ok: true,
      deviceId: 'b',
    });
    assert.deepEqual(
      credentials.authenticate({ authorization: 'Bearer tb', 'x-iottly-device-id': 'b' }),
      {
        ok: true,
        deviceId: 'b',
      },
    );
    assert.deepEqual(
      credentials.authenticate({ authorization: 'Bearer tb', 'x-iottly-device-id': 'a' }),
      {
        ok: false,
        reason: 'device_mismatch',
      },
    );
    assert.deepEqual(credentials.authenticate({ authorization: 'Bearer tc' }), {
      ok: false,
      reason: 'wrong_token',
    });
    assert.deepEqual(credentials.authenticate({}), { ok: false, reason: 'missing_token' });
  });

  it('refuses bad device credentials up front', () => {
    assert.throws(() => DeviceCredentials.fromTokens(new Map([['bad id', 't']])), /does not match/);
    assert.throws(() => DeviceCredentials.fromTokens(new Map([['a', '']])), /empty/);
    assert.throws(
      () =>
        DeviceCredentials.fromTokens(
          new Map([
            ['a', 't'],
            ['b', 't'],
          ]),
        ),
      /shares its token/,
    );
  });
});
