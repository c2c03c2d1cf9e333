import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { fromClientValidators } from '../../src/protocol/from-client.js';
import { parseFrame } from '../../src/protocol/parse.js';
import { errorPayload, welcomePayload } from '../../src/protocol/to-agent.js';
import { toHubValidators } from '../../src/protocol/to-hub.js';

function expectError(text: string, validators: Parameters<typeof parseFrame>[1], code: string) {
  const r = parseFrame(text, validators);
  assert.equal(r.ok, false, `expected ${code} for ${text}`);
  if (!r.ok) assert.equal(r.error.code, code, r.error.message);
  return r.ok ? undefined : r.error;
}

const hello = {
  device_id: 'dev1',
  agent_version: '0.1.0',
  protocol: 1,
  hostname: 'pi',
  capabilities: ['telemetry:cpu'],
};

describe('parseFrame', () => {
  it('accepts a valid frame and drops unknown payload fields', () => {
    const r = parseFrame(
      JSON.stringify({ type: 'hello', payload: { ...hello, extra: 1 } }),
      toHubValidators,
    );
    assert.ok(r.ok);
    if (r.ok) {
      assert.equal(r.frame.type, 'hello');
      assert.equal((r.frame.payload as Record<string, unknown>).extra, undefined);
    }
  });

  it('names not-JSON, missing type, unknown type and wrong field types', () => {
    expectError('{nope', toHubValidators, ErrorCode.invalidJson);
    expectError('', toHubValidators, ErrorCode.invalidJson);
    expectError('[1,2]', toHubValidators, ErrorCode.missingType);
    expectError('"hello"', toHubValidators, ErrorCode.missingType);
    expectError('null', toHubValidators, ErrorCode.missingType);
    expectError('{"payload":{}}', toHubValidators, ErrorCode.missingType);
    expectError('{"type":42}', toHubValidators, ErrorCode.missingType);
    expectError('{"type":"__proto__"}', toHubValidators, ErrorCode.unknownType);
    expectError('{"type":"toString"}', toHubValidators, ErrorCode.unknownType);
    expectError('{"type":"launch_missiles"}', toHubValidators, ErrorCode.unknownType);
    const e = expectError(
      JSON.stringify({
        type: 'hello',
        request_id: 'r1',
        payload: { ...hello, capabilities: ['a', 7] },
      }),
      toHubValidators,
      ErrorCode.invalidPayload,
    );
    assert.equal(e?.request_id, 'r1');
    assert.match(e?.message ?? '', /payload\.capabilities\[1\]: expected string, got number/);
  });

  it('reports a missing required field as required', () => {
    const e = expectError(
      JSON.stringify({ type: 'subscribe', payload: { streams: ['cpu'] } }),
      fromClientValidators,
      ErrorCode.invalidPayload,
    );
    assert.match(e?.message ?? '', /payload\.device_id: required/);
  });

  it('refuses a request_id that is not a short string', () => {
    expectError(
      JSON.stringify({ type: 'subscribe', request_id: 5, payload: {} }),
      fromClientValidators,
      ErrorCode.invalidPayload,
    );
    expectError(
      JSON.stringify({ type: 'subscribe', request_id: 'x'.repeat(500), payload: {} }),
      fromClientValidators,
      ErrorCode.invalidPayload,
    );
  });

  it('keeps the type of a failed frame so nobody answers an error with an error', () => {
    const e = expectError(
      JSON.stringify({ type: 'error', payload: { code: 1 } }),
      toHubValidators,
      ErrorCode.invalidPayload,
    );
    assert.equal(e?.type, 'error');
  });

  it('validates the messages an agent receives', () => {
    assert.ok(
      welcomePayload(
        { device_id: 'dev1', server_time: '2026-05-06T14:22:46.123Z', protocol: 1 },
        'payload',
      ).ok,
    );
    assert.ok(!welcomePayload({ device_id: 'a b' }, 'payload').ok);
    assert.ok(!welcomePayload({ device_id: 'dev1', server_time: 'yesterday' }, 'payload').ok);
    assert.ok(errorPayload({ code: 'busy', message: 'too many' }, 'payload').ok);
    assert.ok(!errorPayload({ code: 'busy' }, 'payload').ok);
  });

  it('validates the platform stream API messages as the docs show them', () => {
    const ok = (text: unknown) => parseFrame(JSON.stringify(text), fromClientValidators).ok;
    assert.ok(
      ok({
        type: 'subscribe',
        request_id: 'sub-1',
        payload: { device_id: 'dev_01j3k', streams: ['cpu', 'memory', 'temperature'] },
      }),
    );
    assert.ok(ok({ type: 'unsubscribe', payload: { subscription_id: 'sub_1' } }));
    assert.ok(
      ok({
        type: 'command',
        request_id: 'cmd-1',
        payload: {
          device_id: 'dev_01j3k',
          command: 'tail -n 50 /var/log/app.log',
          stream_output: true,
        },
      }),
    );
    assert.ok(!ok({ type: 'subscribe', payload: { device_id: 'd', streams: 'cpu' } }));
    assert.ok(!ok({ type: 'telemetry', payload: {} }), 'clients do not send telemetry');
  });

  it('never throws on random input (fuzz)', () => {
    const seeds = [
      JSON.stringify({ type: 'hello', request_id: 'r', payload: hello }),
      JSON.stringify({
        type: 'telemetry',
        payload: { stream: 'cpu', ts: '2026-05-06T14:22:46.123Z', value: 1 },
      }),
      JSON.stringify({ type: 'subscribe', payload: { device_id: 'd', streams: ['cpu'] } }),
    ];
    const alphabet =
      '{}[]":,0123456789abcdefghijklmnopqrstuvwxyz_-.\\ \u00e9\u{1F600}\u0000truefalsenull';
    let state = 12345;
    const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 20_000; i++) {
      const seed = seeds[i % seeds.length] as string;
      const chars = [...seed];
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * chars.length);
        const op = random();
        const c = alphabet[Math.floor(random() * alphabet.length)] as string;
        if (op < 0.33) chars.splice(at, 1);
        else if (op < 0.66) chars.splice(at, 0, c);
        else chars[at] = c;
      }
      const text = chars.join('');
      for (const validators of [toHubValidators, fromClientValidators]) {
        const r = parseFrame(text, validators);
        if (!r.ok) assert.ok(typeof r.error.code === 'string' && r.error.message.length > 0);
      }
    }
  });
});
