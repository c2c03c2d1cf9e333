import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeCursor,
  decodeHubPresence,
  decodePresence,
  decodeWants,
} from '../../src/hub/fleet/fleet-payloads.js';
import { hubRequestIds, randomHubId } from '../../src/hub/fleet/hub-id.js';
import { ownerOf } from '../../src/hub/fleet/rendezvous.js';
import { SeqCursor } from '../../src/hub/fleet/seq-cursor.js';
import { unionDemand } from '../../src/hub/stream-union.js';
import { parseTopic } from '../../src/protocol/mqtt-topics.js';

/** The pure pieces of a hub on an MQTT broker: ownership, stream unions, payload bounds. */
const devices = Array.from({ length: 1000 }, (_, i) => `dev-${i}`);

describe('fleet ownership (rendezvous hashing)', () => {
  it('gives every device one owner among the hubs, spread over them', () => {
    const hubs = ['hub-a', 'hub-b', 'hub-c'];
    const counts = new Map<string, number>();
    for (const id of devices) {
      const owner = ownerOf(id, hubs) as string;
      assert.ok(hubs.includes(owner));
      assert.equal(
        ownerOf(id, [...hubs].reverse()),
        owner,
        'the order of the hubs does not matter',
      );
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    for (const hub of hubs) assert.ok((counts.get(hub) ?? 0) > 250, `${hub}: ${counts.get(hub)}`);
    assert.equal(ownerOf('dev-1', []), null);
  });

  it('moves only the devices of a hub that goes, and only to a hub that comes', () => {
    const before = new Map(devices.map((id) => [id, ownerOf(id, ['hub-a', 'hub-b', 'hub-c'])]));
    for (const id of devices) {
      const after = ownerOf(id, ['hub-a', 'hub-c']);
      if (before.get(id) !== 'hub-b') assert.equal(after, before.get(id), id);
      const joined = ownerOf(id, ['hub-a', 'hub-b', 'hub-c', 'hub-d']);
      if (joined !== 'hub-d') assert.equal(joined, before.get(id), id);
    }
  });
});

describe('fleet stream union', () => {
  it('takes every stream any hub wants, at the fastest interval asked', () => {
    assert.deepEqual(
      unionDemand([
        [{ name: 'memory', interval_ms: 2000 }, { name: 'cpu' }],
        [
          { name: 'cpu', interval_ms: 500 },
          { name: 'memory', interval_ms: 1000 },
        ],
        [{ name: 'uptime' }],
      ]),
      [
        { name: 'cpu', interval_ms: 500 },
        { name: 'memory', interval_ms: 1000 },
        { name: 'uptime' },
      ],
    );
    assert.deepEqual(unionDemand([]), []);
  });
});

describe('fleet payloads', () => {
  const hello = { device_id: 'd1', agent_version: '1.0.0', protocol: 1, capabilities: [] };

  it('reads presence, cursor, hub presence and wants; an empty payload is a cleared message', () => {
    const since = '2026-05-06T14:22:46.123Z';
    assert.deepEqual(decodePresence(Buffer.from(JSON.stringify({ online: true, since, hello }))), {
      ok: true,
      value: { online: true, since, hello },
    });
    assert.deepEqual(decodePresence(Buffer.alloc(0)), { ok: true, value: null });
    assert.deepEqual(decodeCursor(Buffer.from('{"store_id":"s-12345678","last_seq":7}')), {
      ok: true,
      value: { store_id: 's-12345678', last_seq: 7 },
    });
    assert.deepEqual(decodeHubPresence(Buffer.from(`{"online":true,"since":"${since}"}`)), {
      ok: true,
      value: true,
    });
    assert.deepEqual(decodeHubPresence(Buffer.alloc(0)), { ok: true, value: null });
    assert.deepEqual(decodeWants(Buffer.from('{"streams":[{"name":"cpu","interval_ms":500}]}')), {
      ok: true,
      value: [{ name: 'cpu', interval_ms: 500 }],
    });
  });

  it('refuses what is malformed, too large or too deep, saying why', () => {
    const bad = [
      decodePresence(Buffer.from('{"online":"yes"}')),
      decodePresence(Buffer.from(JSON.stringify({ online: true, since: 'now', hello }))),
      decodeCursor(Buffer.from('{"store_id":"x","last_seq":-1}')),
      decodeWants(Buffer.from('{"streams":[{"name":"a/b"}]}')),
      decodeWants(Buffer.from(`{"streams":${'['.repeat(100)}${']'.repeat(100)}}`)),
      decodeCursor(Buffer.alloc(65 * 1024, 0x20)),
      decodeHubPresence(Buffer.from('not json')),
    ];
    for (const result of bad) {
      assert.equal(result.ok, false, JSON.stringify(result));
      if (!result.ok) assert.ok(result.error.length > 0);
    }
  });
});

describe('fleet ids and cursors', () => {
  it('makes hub ids of the topic scheme, and request ids that start with them', () => {
    const id = randomHubId();
    assert.match(id, /^hub-[A-Za-z0-9_-]{12}$/);
    assert.notEqual(randomHubId(), id);
    assert.deepEqual(parseTopic(`iottly/v1/hubs/${id}`), { kind: 'hub', hubId: id });
    assert.equal(hubRequestIds(id, (p) => `${p}_1`)('req'), `${id}.req_1`);
  });

  it('raises a seq cursor within its store only, and starts a new store over', () => {
    const cursor = new SeqCursor();
    cursor.raise('s1', 5);
    assert.deepEqual([cursor.storeId, cursor.lastSeq], ['s1', 5]);
    cursor.raise('s0', 9);
    cursor.raise('s1', 3);
    assert.equal(cursor.lastSeq, 5);
    assert.equal(cursor.advance(5), false);
    assert.equal(cursor.advance(6), true);
    cursor.openStore('s2');
    assert.deepEqual([cursor.storeId, cursor.lastSeq], ['s2', 0]);
  });
});
