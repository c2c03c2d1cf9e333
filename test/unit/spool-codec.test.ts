import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { crc32, tableCrc32 } from '../../src/storage/crc32.js';
import { laneOf } from '../../src/storage/lanes.js';
import { canonicalIsoMs } from '../../src/storage/iso-ms.js';
import type { AgentMessage } from '../../src/protocol/message.js';
import {
  bodyOf,
  decodeRecord,
  encodeRecord,
  encodeRecords,
  frameOf,
  isCompactable,
  recordTime,
  type SpoolEntry,
} from '../../src/storage/record-codec.js';

const entry = (seq: number, body = '{"type":"telemetry","payload":{"value":1}}'): SpoolEntry => ({
  seq,
  lane: 'telemetry',
  tsMs: Date.UTC(2026, 0, 1),
  body,
  compact: false,
});

describe('spool record codec', () => {
  it('computes the standard CRC-32 check value', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
    assert.equal(tableCrc32(Buffer.from('123456789')), 0xcbf43926);
  });

  it('gives the same CRC-32 natively and table-driven, over any range', () => {
    const data = randomBytes(70_000);
    for (const [start, end] of [
      [0, 70_000],
      [3, 65_539],
      [100, 100],
      [69_999, 70_000],
    ] as const)
      assert.equal(crc32(data, start, end), tableCrc32(data, start, end));
  });

  it('round-trips a record, including non-ASCII text and large seqs', () => {
    const original = entry(2 ** 47 + 5, '{"type":"x","payload":{"t":"héllo ✓"}}');
    const encoded = encodeRecord(original);
    const decoded = decodeRecord(encoded, 0);
    assert.equal(decoded.kind, 'record');
    assert.deepEqual(decoded.kind === 'record' && decoded.entry, original);
    assert.equal(decoded.kind === 'record' && decoded.bytes, encoded.length);
  });

  it('reports a cut record as partial and a flipped bit as corrupt', () => {
    const encoded = encodeRecord(entry(7));
    for (let cut = 0; cut < encoded.length; cut++) {
      assert.equal(decodeRecord(encoded, 0, cut).kind, 'partial', `cut at ${cut}`);
    }
    const flipped = Buffer.from(encoded);
    flipped.writeUInt8((flipped.at(-3) ?? 0) ^ 0x10, flipped.length - 3);
    assert.deepEqual(decodeRecord(flipped, 0), { kind: 'corrupt', reason: 'checksum mismatch' });
  });

  it('never throws on random bytes (fuzz)', () => {
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(1 + (i % 64));
      if (i % 3 === 0 && bytes.length >= 4) bytes.writeUInt32LE(i % 50, 0); // plausible lengths
      const result = decodeRecord(bytes, 0);
      assert.ok(['partial', 'corrupt', 'record'].includes(result.kind));
    }
  });

  it('restores a compact record’s channel and ts, byte for byte as the agent stamps them', () => {
    const ts = '2026-05-06T14:22:46.123Z';
    const tsMs = Date.parse(ts);
    assert.equal(isCompactable('telemetry', 'telemetry', ts, tsMs), true);
    assert.equal(isCompactable('telemetry', 'telemetry', '2026-05-06T14:22:46Z', tsMs), false);
    assert.equal(isCompactable('status', 'errors', ts, tsMs), false);
    assert.equal(isCompactable('user', 'my-app', ts, tsMs), false);
    const compact: SpoolEntry = {
      seq: 9,
      lane: 'telemetry',
      tsMs,
      body: '{"type":"telemetry","payload":{"value":1}}',
      compact: true,
    };
    const decoded = decodeRecord(encodeRecord(compact), 0);
    assert.deepEqual(decoded.kind === 'record' && decoded.entry, compact);
    assert.deepEqual(JSON.parse(frameOf(compact) as string), {
      seq: 9,
      channel: 'telemetry',
      ts,
      type: 'telemetry',
      payload: { value: 1 },
    });
  });

  it('puts seq first in the wire frame', () => {
    assert.equal(
      frameOf(entry(12, '{"type":"a","payload":{}}')),
      '{"seq":12,"type":"a","payload":{}}',
    );
    assert.deepEqual(JSON.parse(frameOf(entry(3, '{}')) as string), { seq: 3 });
  });

  it('sorts channels into lanes', () => {
    assert.equal(laneOf('telemetry'), 'telemetry');
    assert.equal(laneOf('commands'), 'command');
    assert.equal(laneOf('status'), 'status');
    assert.equal(laneOf('errors'), 'status');
    assert.equal(laneOf('my-app'), 'user');
  });

  it('encodes a batch as the records one by one would be, back to back', () => {
    const batch: SpoolEntry[] = [
      entry(1),
      { ...entry(2, '{"type":"x","payload":{"t":"héllo ✓ \ud83d"}}'), compact: true },
      { seq: 3, lane: 'command', tsMs: 5, body: Uint8Array.from([1, 2, 3, 0, 0]), compact: false },
      entry(4, '{}'),
    ];
    const { data, sizes } = encodeRecords(batch, 3);
    const one = batch.slice(0, 3).map((e) => encodeRecord(e));
    assert.deepEqual(data, Buffer.concat(one));
    assert.deepEqual(
      sizes,
      one.map((b) => b.length),
    );
  });

  it('reads a canonical ISO time exactly as Date.parse does, and nothing else', () => {
    for (let i = 0; i < 20_000; i++) {
      const ms = Math.floor(Math.random() * Date.UTC(9999, 11, 31, 23, 59, 59, 999));
      const ts = new Date(ms).toISOString();
      assert.equal(canonicalIsoMs(ts), ms, ts);
    }
    for (const ts of [
      '2024-02-29T23:59:59.999Z',
      '2000-02-29T00:00:00.000Z',
      '1970-01-01T00:00:00.000Z',
    ])
      assert.equal(canonicalIsoMs(ts), Date.parse(ts), ts);
    for (const ts of [
      '2026-02-30T00:00:00.000Z', // Date.parse takes it as March 2: not what was stamped
      '2023-02-29T00:00:00.000Z',
      '1900-02-29T00:00:00.000Z',
      '2026-04-31T00:00:00.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-00-01T00:00:00.000Z',
      '2026-05-06T24:00:00.000Z',
      '2026-05-06T14:60:00.000Z',
      '2026-05-06T14:22:60.000Z',
      '2026-05-06T14:22:46Z',
      '2026-05-06T14:22:46.123+00:00',
      '2026-05-06 14:22:46.123Z',
      '2026-05-06T1a:22:46.123Z',
      '2026-05-06T14:22:46.12xZ',
      '1969-12-31T23:59:59.999Z',
      '+010000-01-01T00:00:00.000Z',
      '',
    ])
      assert.equal(canonicalIsoMs(ts), null, ts);
  });

  it('decides a record time and compactness as Date.parse and isCompactable do', () => {
    const cases: Array<[string | undefined, string]> = [
      ['telemetry', '2026-05-06T14:22:46.123Z'],
      ['telemetry', '2026-05-06T14:22:46Z'],
      ['telemetry', '2026-02-30T00:00:00.000Z'],
      ['telemetry', '1969-12-31T23:59:59.999Z'],
      ['telemetry', 'yesterday'],
      ['errors', '2026-05-06T14:22:46.123Z'],
      ['my-app', '2026-05-06T14:22:46.123Z'],
      [undefined, '2026-05-06T14:22:46.123Z'],
    ];
    for (const [channel, ts] of cases) {
      const lane = laneOf(channel);
      const parsed = Date.parse(ts);
      assert.deepEqual(recordTime(lane, { type: 't', channel, ts, payload: {} }), {
        tsMs: Number.isFinite(parsed) ? Math.max(0, parsed) : 0,
        compact: isCompactable(lane, channel, ts, parsed),
      });
    }
  });

  it('builds a body as JSON.stringify of the message without seq (and channel, ts) would', () => {
    const messages = [
      { type: 'telemetry', channel: 'telemetry', ts: 'T', payload: { v: 1, s: 'é"\\' } },
      { seq: 4, type: 'x', payload: { a: [1, { b: null }] }, ts: 'T', extra: undefined },
      { 'we"ird\nkey': 1, type: 'x', ts: 'T', payload: {}, fn: () => 1, n: Number.NaN },
      { ts: 'T', type: 'x', payload: { toJSON: () => 'custom' }, when: new Date(0) },
      { type: 'x', ts: 'T', payload: {} },
    ] as unknown as AgentMessage[];
    for (const message of messages) {
      assert.equal(bodyOf(message, false), JSON.stringify({ ...message, seq: undefined }));
      assert.equal(
        bodyOf(message, true),
        JSON.stringify({ ...message, seq: undefined, channel: undefined, ts: undefined }),
      );
    }
  });
});
