import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiKeys } from '../../src/hub/auth.js';
import { API_KEY_ONLY, KEY_OR_SESSION, authenticateClient } from '../../src/hub/client-auth.js';
import { SessionTokens } from '../../src/hub/session-tokens.js';
import { FakeClock } from '../helpers/fake-clock.js';

// Keys long enough that a random token cannot contain one by chance.
const K2 = 'ik_test_second_key_Zq8';

function tokens(clock = new FakeClock(), keys = ['k1', K2], ttlMs = 60_000) {
  return new SessionTokens({ apiKeys: keys, ttlMs, clock });
}

describe('SessionTokens', () => {
  it('issues tokens that hold until their expiry on the injected clock', () => {
    const clock = new FakeClock();
    const sessions = tokens(clock);
    const { token, expiresAt, expiresInMs } = sessions.issue(K2);
    assert.match(token, /^ist_[0-9a-z]+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    assert.ok(!token.includes(K2), 'the key is not in the token');
    assert.equal(expiresInMs, 60_000);
    assert.equal(expiresAt.getTime(), clock.date().getTime() + 60_000);
    clock.advance(59_999);
    assert.deepEqual(sessions.check(token), { ok: true, expiresAt, expiresInMs: 1 });
    clock.advance(1);
    assert.deepEqual(sessions.check(token), { ok: false, reason: 'expired' });
  });

  it('gives every token its own nonce', () => {
    const sessions = tokens();
    assert.notEqual(sessions.issue('k1').token, sessions.issue('k1').token);
  });

  it('refuses a token whose expiry or MAC was changed, or that another key set made', () => {
    const clock = new FakeClock();
    const sessions = tokens(clock);
    const { token } = sessions.issue('k1');
    const [head = '', nonce = '', mac = ''] = token.split('.');
    const later = `ist_${(parseInt(head.slice(4), 36) + 1000).toString(36)}`;
    assert.deepEqual(sessions.check(`${later}.${nonce}.${mac}`), { ok: false, reason: 'wrong' });
    const flipped = `${mac.slice(0, -2)}${mac.endsWith('AA') ? 'AB' : 'AA'}`;
    assert.deepEqual(sessions.check(`${head}.${nonce}.${flipped}`), { ok: false, reason: 'wrong' });
    assert.deepEqual(tokens(clock, ['other']).check(token), { ok: false, reason: 'wrong' });
    // Even once expired, a forged token is only ever "wrong": expiry is said of genuine ones.
    clock.advance(120_000);
    assert.deepEqual(sessions.check(`${later}.${nonce}.${mac}`), { ok: false, reason: 'wrong' });
  });

  it('accepts a token after a restart with the same keys, never past the TTL now in force', () => {
    const clock = new FakeClock();
    const { token } = tokens(clock, ['k1'], 3_600_000).issue('k1');
    assert.equal(tokens(clock, ['k1'], 3_600_000).check(token).ok, true);
    assert.deepEqual(tokens(clock, ['k1'], 60_000).check(token), { ok: false, reason: 'expired' });
  });

  it('says malformed for anything that is not a token, whatever it is (fuzz)', () => {
    const sessions = tokens();
    const alphabet = 'ist_.-AZaz09+/= \u00e9\u0000';
    let seed = 7;
    const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2_000; i++) {
      const length = Math.floor(random() * 120);
      let text = i % 3 === 0 ? 'ist_' : '';
      for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
      const check = sessions.check(text);
      assert.equal(check.ok, false, text);
    }
    assert.deepEqual(sessions.check(''), { ok: false, reason: 'malformed' });
  });

  it('refuses a TTL under a second', () => {
    assert.throws(
      () => tokens(new FakeClock(), ['k'], 999),
      /sessionTtlMs: expected an integer of at least 1000/,
    );
  });
});

describe('authenticateClient', () => {
  const clock = new FakeClock();
  const apiKeys = new ApiKeys(['key']);
  const sessions = new SessionTokens({ apiKeys: ['key'], ttlMs: 10_000, clock });
  const url = (query = '') => new URL(`http://hub/v1/stream${query}`);

  it('takes an API key or a session token, from the header or the query', () => {
    const { token } = sessions.issue('key');
    const auth = (headers: Record<string, string>, query?: string) =>
      authenticateClient(headers, url(query), apiKeys, sessions, KEY_OR_SESSION);
    assert.deepEqual(auth({ authorization: 'Bearer key' }), { ok: true, via: 'api_key' });
    assert.deepEqual(auth({}, '?api_key=key'), { ok: true, via: 'api_key' });
    assert.deepEqual(auth({ authorization: `Bearer ${token}` }), { ok: true, via: 'session' });
    assert.deepEqual(auth({}, `?session=${token}`), { ok: true, via: 'session' });
    assert.deepEqual(auth({}, '?session=key'), { ok: false, status: 401, code: 'unauthorized' });
    assert.deepEqual(auth({}, `?api_key=${token}`), {
      ok: false,
      status: 401,
      code: 'unauthorized',
    });
    assert.deepEqual(auth({}), { ok: false, status: 401, code: 'unauthorized' });
    clock.advance(10_000);
    assert.deepEqual(auth({}, `?session=${token}`), {
      ok: false,
      status: 401,
      code: 'session_expired',
    });
  });

  it('refuses a genuine session token where only the API key will do, with 403', () => {
    const { token } = sessions.issue('key');
    const auth = (headers: Record<string, string>, query?: string) =>
      authenticateClient(headers, url(query), apiKeys, sessions, API_KEY_ONLY);
    assert.deepEqual(auth({ authorization: 'Bearer key' }), { ok: true, via: 'api_key' });
    const scoped = { ok: false, status: 403, code: 'insufficient_scope' };
    assert.deepEqual(auth({ authorization: `Bearer ${token}` }), scoped);
    assert.deepEqual(auth({}, `?session=${token}`), scoped);
    // A bad credential stays a 401: the scope only matters once the credential is genuine.
    assert.deepEqual(auth({}, '?session=nope'), { ok: false, status: 401, code: 'unauthorized' });
  });
});
