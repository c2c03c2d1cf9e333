import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH, UpReading } from '../../src/hub/fleet/up-reading.js';

/** An UpReading whose SUBACKs the test gives by hand, flushing when the test says. */
function reading() {
  const subscribes: { topics: readonly string[]; grant: (ok: boolean) => void }[] = [];
  const unsubscribed: string[][] = [];
  const deferred: (() => void)[] = [];
  const up = new UpReading({
    subscribe: (topics) =>
      new Promise<boolean>((grant) => {
        subscribes.push({ topics, grant });
      }),
    unsubscribe: async (topics) => {
      unsubscribed.push([...topics]);
    },
    defer: (fn) => deferred.push(fn),
  });
  const flush = () => deferred.splice(0).forEach((fn) => fn());
  const settled = () => new Promise((resolve) => setImmediate(resolve));
  return { up, subscribes, unsubscribed, flush, settled };
}

describe('UpReading (which devices a hub reads)', () => {
  it('subscribes what one turn asked for in batches, and runs what waited once granted, in order', async () => {
    const { up, subscribes, flush, settled } = reading();
    const ran: string[] = [];
    const ids = Array.from({ length: BATCH + 1 }, (_, i) => `d${i}`);
    for (const id of ids) up.read(id);
    up.read('d0', (read) => ran.push(`first ${read}`));
    up.read('d0', (read) => ran.push(`second ${read}`));
    assert.equal(subscribes.length, 0, 'nothing before the turn ends');
    flush();
    assert.deepEqual(
      subscribes.map((s) => s.topics.length),
      [BATCH, 1],
    );
    assert.equal(subscribes[0]?.topics[0], 'iottly/v1/devices/d0/up');
    assert.equal(up.isRead('d0'), false);
    subscribes[0]?.grant(true);
    await settled();
    assert.deepEqual(ran, ['first true', 'second true']);
    assert.equal(up.isRead('d0'), true);
    up.read('d0', (read) => ran.push(`at once ${read}`));
    assert.deepEqual(ran.at(-1), 'at once true');
    assert.equal(up.isRead(`d${BATCH}`), false, 'its batch is not granted yet');
  });

  it('drops what waited when the connection is lost, ignores the old answer, and subscribes again when it is back', async () => {
    const { up, subscribes, flush, settled } = reading();
    const ran: boolean[] = [];
    up.read('d1', (read) => ran.push(read));
    flush();
    up.connectionLost();
    assert.deepEqual(ran, [false]);
    subscribes[0]?.grant(true); // the earlier connection's SUBACK, late
    await settled();
    assert.equal(up.isRead('d1'), false);
    up.connectionBack();
    flush();
    assert.equal(subscribes.length, 2);
    subscribes[1]?.grant(true);
    await settled();
    assert.equal(up.isRead('d1'), true);
    // Subscribed with the connection itself, before it counted as online: read at once.
    up.connectionLost();
    up.connectionBack(new Set(['d1']));
    flush();
    assert.equal(subscribes.length, 2, 'no second SUBSCRIBE');
    assert.equal(up.isRead('d1'), true);
  });

  it('takes a refused subscription as not read, and forgets with an UNSUBSCRIBE', async () => {
    const { up, subscribes, unsubscribed, flush, settled } = reading();
    const ran: boolean[] = [];
    up.read('d1', (read) => ran.push(read));
    up.read('d2');
    flush();
    subscribes[0]?.grant(false);
    await settled();
    assert.deepEqual(ran, [false]);
    assert.equal(up.isRead('d1'), false);
    up.forget(['d1', 'unknown']);
    assert.deepEqual(unsubscribed, [['iottly/v1/devices/d1/up']]);
    assert.deepEqual([...up.devices()], ['d2']);
  });
});
