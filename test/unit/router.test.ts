import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Router } from '../../src/agent/router.js';
import type { FrameError } from '../../src/protocol/parse.js';
import { object, string } from '../../src/protocol/schema.js';

describe('Router', () => {
  function setup() {
    const errors: FrameError[] = [];
    const router = new Router((e) => errors.push(e));
    return { errors, router };
  }

  it('dispatches a valid frame to its handler with the typed payload', () => {
    const { errors, router } = setup();
    const seen: string[] = [];
    router.register('greet', object({ name: string() }), (p, frame) => {
      seen.push(`${p.name}/${frame.request_id}`);
    });
    router.dispatch(JSON.stringify({ type: 'greet', request_id: 'r1', payload: { name: 'pi' } }));
    assert.deepEqual(seen, ['pi/r1']);
    assert.deepEqual(errors, []);
  });

  it('turns a throwing or rejecting handler into internal_error with the request id', async () => {
    const { errors, router } = setup();
    router.register('boom', object({}), () => {
      throw new Error('kaput');
    });
    router.register('later', object({}), async () => {
      throw new Error('async kaput');
    });
    router.dispatch(JSON.stringify({ type: 'boom', request_id: 'a', payload: {} }));
    router.dispatch(JSON.stringify({ type: 'later', request_id: 'b', payload: {} }));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      errors.map((e) => [e.code, e.request_id, e.message]),
      [
        ['internal_error', 'a', 'boom: kaput'],
        ['internal_error', 'b', 'later: async kaput'],
      ],
    );
  });

  it('reports unknown types and refuses double registration', () => {
    const { errors, router } = setup();
    router.dispatch('{"type":"nope","request_id":"x"}');
    assert.equal(errors[0]?.code, 'unknown_type');
    assert.equal(errors[0]?.request_id, 'x');
    router.register('t', object({}), () => {});
    assert.throws(() => router.register('t', object({}), () => {}), /already registered/);
  });
});
