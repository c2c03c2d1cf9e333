import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChangedOnly } from '../../src/agent/connection-status.js';

describe('ChangedOnly', () => {
  it('passes a value on only when it differs from the last one passed on', () => {
    const outbox = new ChangedOnly<{ depth: number }>();
    const taken = [1, 1, 2, 2, 1].map((depth) => outbox.take({ depth }));
    assert.deepEqual(taken, [{ depth: 1 }, undefined, { depth: 2 }, undefined, { depth: 1 }]);
  });
});
