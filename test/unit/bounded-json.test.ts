import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_JSON_DEPTH, decodeJson, nestingExceeds } from '../../src/protocol/bounded-json.js';
import { ErrorCode } from '../../src/protocol/error-codes.js';
import { fromClientValidators } from '../../src/protocol/from-client.js';
import { MAX_FRAME_BYTES } from '../../src/protocol/message.js';
import { parseFrame } from '../../src/protocol/parse.js';
import { anyObject } from '../../src/protocol/schema.js';
import { toHubValidators } from '../../src/protocol/to-hub.js';
import { seededRandom } from '../helpers/seeded-random.js';

/** Strings meant to trip a scanner: quotes, backslashes and brackets inside strings. */
const TRICKY_STRINGS = [
  '',
  '"',
  '\\',
  '\\"',
  '[',
  ']',
  '{',
  '}',
  '[{"',
  '\\\\"]',
  'é☃𝄞',
  '\u0000\n',
];

function randomString(random: () => number): string {
  let out = '';
  const n = Math.floor(random() * 4);
  for (let i = 0; i < n; i++) {
    out +=
      random() < 0.5
        ? (TRICKY_STRINGS[Math.floor(random() * TRICKY_STRINGS.length)] ?? '')
        : String.fromCharCode(32 + Math.floor(random() * 95));
  }
  return out;
}

/** A random JSON value nested exactly `depth` levels deep (0: a scalar). */
function randomValue(random: () => number, depth: number): unknown {
  if (depth === 0) {
    const pick = random();
    if (pick < 0.3) return randomString(random);
    if (pick < 0.6) return Math.round((random() - 0.5) * 1e6) / 100;
    if (pick < 0.8) return random() < 0.5;
    return null;
  }
  const width = 1 + Math.floor(random() * 3);
  // One child carries the full depth; the others stay shallow, so the size grows with depth
  // linearly, not exponentially.
  const deepAt = Math.floor(random() * width);
  const children = Array.from({ length: width }, (_, i) =>
    randomValue(random, i === deepAt ? depth - 1 : Math.floor(random() * Math.min(depth, 3))),
  );
  if (random() < 0.5) return children;
  return Object.fromEntries(children.map((child, i) => [`${randomString(random)}#${i}`, child]));
}

function nested(depth: number, inner = '1'): string {
  return '['.repeat(depth) + inner + ']'.repeat(depth);
}

function decodeOrThrow(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

describe('decodeJson', () => {
  it('accepts text exactly at the depth limit and refuses one level more, naming the limit', () => {
    const atLimit = decodeJson(nested(MAX_JSON_DEPTH), { maxBytes: 1 << 20 });
    assert.ok(atLimit.ok);
    const over = decodeJson(nested(MAX_JSON_DEPTH + 1), { maxBytes: 1 << 20 });
    assert.deepEqual(over, {
      ok: false,
      reason: 'too_deep',
      message: `nested deeper than ${MAX_JSON_DEPTH} levels`,
    });
    const objects = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    assert.equal(decodeJson(objects, { maxBytes: 1 << 20 }).ok, false);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ s: '['.repeat(500) + '\\"{'.repeat(500), t: ['"]]]"'] });
    const r = decodeJson(text, { maxBytes: 1 << 20, maxDepth: 2 });
    assert.ok(r.ok);
    assert.deepEqual(r.value, JSON.parse(text));
    // An escaped backslash ends before the quote: the brackets after it are structure again.
    assert.equal(nestingExceeds('["\\\\",[[1]]]', 2), true);
    assert.equal(nestingExceeds('["\\\\",[1]]', 2), false);
  });

  it('refuses text over the byte limit, counting UTF-8 bytes', () => {
    assert.deepEqual(decodeJson('"☃☃"', { maxBytes: 7 }), {
      ok: false,
      reason: 'too_large',
      message: 'larger than 7 bytes',
    });
    assert.ok(decodeJson('"☃☃"', { maxBytes: 8 }).ok);
    const random = seededRandom(8);
    const units = ['a', 'é', '☃', '𝄞', '\ud800', '\udc00'];
    for (let round = 0; round < 500; round++) {
      const inner = Array.from(
        { length: Math.floor(random() * 12) },
        () => units[Math.floor(random() * units.length)],
      ).join('');
      const text = `"${inner}"`; // raw, so lone surrogates stay lone (JSON.stringify escapes them)
      const exact = Buffer.byteLength(text);
      assert.ok(decodeJson(text, { maxBytes: exact }).ok, text);
      if (exact > 0) assert.equal(decodeJson(text, { maxBytes: exact - 1 }).ok, false, text);
    }
  });

  it('fuzz: the same value as JSON.parse within the limits, a clean refusal beyond them', () => {
    const random = seededRandom(13);
    const maxDepth = 8;
    for (let round = 0; round < 3000; round++) {
      const depth = Math.floor(random() * (maxDepth + 4));
      const text = JSON.stringify(randomValue(random, depth));
      const r = decodeJson(text, { maxBytes: 1 << 20, maxDepth });
      if (depth <= maxDepth) {
        assert.ok(r.ok, `depth ${depth} refused: ${text}`);
        assert.deepEqual(r.value, JSON.parse(text));
      } else {
        assert.equal(r.ok, false, `depth ${depth} accepted: ${text}`);
        if (!r.ok) assert.equal(r.reason, 'too_deep');
      }
    }
  });

  it('fuzz: truncated and mangled text never throws, and agrees with JSON.parse', () => {
    const random = seededRandom(70);
    const noise = ['[', ']', '{', '}', '"', '\\', ',', ':', 'x', ' '];
    for (let round = 0; round < 5000; round++) {
      let text = JSON.stringify(randomValue(random, Math.floor(random() * 6)));
      const edit = random();
      if (edit < 0.4) text = text.slice(0, Math.floor(random() * text.length));
      else if (edit < 0.8) {
        const at = Math.floor(random() * (text.length + 1));
        const piece = noise[Math.floor(random() * noise.length)] ?? '';
        text = text.slice(0, at) + piece + text.slice(at);
      }
      const r = decodeJson(text, { maxBytes: 1 << 20, maxDepth: 4 });
      const reference = decodeOrThrow(text);
      if (r.ok) {
        assert.ok(reference.ok, `accepted what JSON.parse refuses: ${text}`);
        if (reference.ok) assert.deepEqual(r.value, reference.value);
      } else {
        assert.ok(
          r.reason !== 'invalid_json' || !reference.ok,
          `called valid text invalid: ${text}`,
        );
        assert.ok(r.message.length > 0);
      }
    }
  });
});

describe('parseFrame with hostile text', () => {
  it('answers a 5000-deep frame with invalid_json naming the depth', () => {
    const deep = `{"type":"hello","payload":{"data":${nested(5000)}}}`;
    const r = parseFrame(deep, toHubValidators);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, ErrorCode.invalidJson);
      assert.equal(r.error.message, `frame is nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
  });

  it('fuzz: deep, garbage and truncated frames never throw', () => {
    const random = seededRandom(5000);
    const sets = [
      toHubValidators,
      fromClientValidators,
      { command: anyObject(), user: anyObject() },
    ];
    const shapes = [
      () => `{"type":"command","request_id":"r","payload":${nested(Math.floor(random() * 9000))}}`,
      () => nested(Math.floor(random() * 9000), '{"type":"user"}'),
      () => '{"a":'.repeat(Math.floor(random() * 9000)),
      () => JSON.stringify(randomValue(random, Math.floor(random() * 80))),
      () =>
        Array.from({ length: Math.floor(random() * 200) }, () =>
          String.fromCharCode(Math.floor(random() * 0x3000)),
        ).join(''),
    ];
    for (let round = 0; round < 600; round++) {
      const text = (shapes[round % shapes.length] as () => string)();
      const cut = random() < 0.3 ? text.slice(0, Math.floor(random() * text.length)) : text;
      for (const validators of sets) {
        const r = parseFrame(cut, validators);
        assert.equal(typeof r.ok, 'boolean');
        if (!r.ok) assert.ok(r.error.message.length > 0);
      }
    }
  });

  it('refuses a frame over MAX_FRAME_BYTES even when no socket bounded it first', () => {
    const text = JSON.stringify({ type: 'hello', payload: { pad: 'x'.repeat(MAX_FRAME_BYTES) } });
    const r = parseFrame(text, toHubValidators);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.message, /larger than 1048576 bytes/);
  });
});
