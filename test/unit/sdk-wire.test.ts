import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter } from '../../src/local/line-splitter.js';
import { USER_MESSAGE_TYPE } from '../../src/protocol/apps.js';
import { MAX_JSON_DEPTH } from '../../src/protocol/bounded-json.js';
import { encode, type Message } from '../../src/protocol/message.js';
import { parseFrame } from '../../src/protocol/parse.js';
import { toHubValidators } from '../../src/protocol/to-hub.js';
import {
  agentStoppingLine,
  commandLine,
  connectionStatusLine,
  parseAppLine,
  sdkInitLine,
  SDK_PROTOCOL_VERSION,
} from '../../src/local/sdk-wire.js';

describe('SDK wire: app lines', () => {
  it('reads the connect and disconnect signals', () => {
    assert.deepEqual(
      parseAppLine(
        '{"signal": {"sdkclient": {"name": "a", "status": "connected", "version": "1.3"}}}',
      ),
      { ok: true, value: { kind: 'status', app: 'a', status: 'connected', version: '1.3' } },
    );
    assert.deepEqual(
      parseAppLine('{"signal": {"sdkclient": {"name": "a", "status": "disconnected"}}}'),
      {
        ok: true,
        value: { kind: 'status', app: 'a', status: 'disconnected' },
      },
    );
  });

  it('reads data with and without a channel', () => {
    const plain = '{"data": {"sdkclient": {"name": "a"}, "payload": {"t": 1}}}';
    assert.deepEqual(parseAppLine(plain), {
      ok: true,
      value: { kind: 'data', app: 'a', payload: { t: 1 }, lineLength: plain.length },
    });
    const withChannel = '{"data": {"sdkclient": {"name": "a"}, "payload": {}, "channel": "s"}}';
    assert.deepEqual(parseAppLine(withChannel), {
      ok: true,
      value: { kind: 'data', app: 'a', payload: {}, channel: 's', lineLength: withChannel.length },
    });
  });

  it('reads error and call signals', () => {
    assert.deepEqual(
      parseAppLine('{"signal": {"sdkclient": {"name": "a", "error": {"type": "E", "msg": "m"}}}}'),
      { ok: true, value: { kind: 'error', app: 'a', errorType: 'E', message: 'm' } },
    );
    assert.deepEqual(
      parseAppLine('{"signal": {"sdkclient": {"name": "a", "call": {"reboot": {"in": 5}}}}}'),
      { ok: true, value: { kind: 'call', app: 'a', call: 'reboot', args: { in: 5 } } },
    );
  });

  it('names what is wrong in a bad line', () => {
    const cases: Array<[string, RegExp]> = [
      ['{nope', /not valid JSON/],
      ['[1]', /expected a JSON object/],
      ['{"other": 1}', /expected "data" or "signal.sdkclient"/],
      ['{"data": {"sdkclient": {"name": "a"}, "payload": [1]}}', /data.payload: expected object/],
      ['{"data": {"payload": {}}}', /data.sdkclient: required/],
      ['{"signal": {"sdkclient": {"name": "", "status": "connected"}}}', /name/],
      [
        '{"signal": {"sdkclient": {"name": "a", "status": "maybe"}}}',
        /"connected" \| "disconnected"/,
      ],
      ['{"signal": {"sdkclient": {"name": "a", "call": {"x": {}, "y": {}}}}}', /exactly one key/],
      ['{"signal": {"sdkclient": {"name": "a", "call": {"x": 1}}}}', /call.x: expected object/],
      ['{"signal": {"sdkclient": {"name": "a"}}}', /expected one of/],
    ];
    for (const [line, why] of cases) {
      const r = parseAppLine(line);
      assert.equal(r.ok, false, line);
      if (!r.ok) assert.match(r.error, why, line);
    }
  });

  it('never throws on random or mutated input (fuzz)', () => {
    const seeds = [
      '{"data": {"sdkclient": {"name": "a"}, "payload": {"t": 1}, "channel": "s"}}',
      '{"signal": {"sdkclient": {"name": "a", "call": {"reboot": {"in": 5}}}}}',
      '{"signal": {"sdkclient": {"name": "a", "error": {"type": "E", "msg": "m"}}}}',
    ];
    let state = 42;
    const random = (): number => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 5_000; i++) {
      const seed = seeds[i % seeds.length] as string;
      const chars = [...seed];
      for (let k = 0; k < 1 + Math.floor(random() * 4); k++) {
        const at = Math.floor(random() * chars.length);
        chars[at] = String.fromCharCode(Math.floor(random() * 128));
      }
      const r = parseAppLine(chars.join(''));
      assert.equal(typeof r.ok, 'boolean');
    }
  });
});

describe('SDK wire: agent lines', () => {
  it('encodes exactly the documented shapes, one line each', () => {
    assert.equal(sdkInitLine('1.8.0'), '{"signal":{"sdkinit":{"version":"1.8.0"}}}\n');
    assert.equal(
      connectionStatusLine('connected'),
      '{"signal":{"connectionstatus":"connected"}}\n',
    );
    assert.equal(agentStoppingLine(), '{"signal":{"agentstatus":"stopping"}}\n');
    assert.equal(commandLine('reboot', { in: 5 }), '{"data":{"reboot":{"in":5}}}\n');
  });

  it('announces a strict MAJOR.MINOR.PATCH of at least 1.8.0', () => {
    const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(SDK_PROTOCOL_VERSION);
    assert.ok(match, 'strict MAJOR.MINOR.PATCH');
    assert.ok(
      Number(match[1]) > 1 || (Number(match[1]) === 1 && Number(match[2]) >= 8),
      'at least 1.8.0',
    );
  });
});

describe('SDK wire: data lines', () => {
  it('takes the known fields of a data line, ignores others, and names each fault', () => {
    const line = (data: unknown): string => JSON.stringify({ data });
    const plain = line({ sdkclient: { name: 'a', x: 1 }, payload: { t: 1 }, extra: [] });
    assert.deepEqual(parseAppLine(plain), {
      ok: true,
      value: { kind: 'data', app: 'a', payload: { t: 1 }, lineLength: plain.length },
    });
    const onChannel = line({ sdkclient: { name: 'a' }, payload: {}, channel: 'sensors' });
    assert.deepEqual(parseAppLine(onChannel), {
      ok: true,
      value: {
        kind: 'data',
        app: 'a',
        payload: {},
        channel: 'sensors',
        lineLength: onChannel.length,
      },
    });
    const faults: Array<[unknown, string]> = [
      [[], 'data: expected object, got array'],
      [{ payload: {} }, 'data.sdkclient: required'],
      [{ sdkclient: { name: 'a' } }, 'data.payload: required'],
      [{ sdkclient: { name: 'a' }, payload: [1] }, 'data.payload: expected object, got array'],
      [{ sdkclient: {}, payload: {} }, 'data.sdkclient.name: required'],
      [{ sdkclient: { name: '' }, payload: {} }, 'data.sdkclient.name: expected string matching'],
      [{ sdkclient: { name: 'a' }, payload: {}, channel: 7 }, 'data.channel: expected string'],
      [{ sdkclient: { name: 'a' }, payload: {}, channel: 'a\nb' }, 'data.channel: expected'],
    ];
    for (const [data, error] of faults) {
      const r = parseAppLine(line(data));
      assert.ok(
        !r.ok && r.error.startsWith(error),
        `${JSON.stringify(data)}: ${JSON.stringify(r)}`,
      );
    }
  });
});

describe('LineSplitter', () => {
  function split(chunks: Buffer[], maxLineBytes = 100): { lines: string[]; overflow: number[] } {
    const lines: string[] = [];
    const overflow: number[] = [];
    const splitter = new LineSplitter({
      maxLineBytes,
      onLine: (l) => lines.push(l),
      onOverflow: (b) => overflow.push(b),
    });
    for (const chunk of chunks) splitter.push(chunk);
    return { lines, overflow };
  }

  it('joins lines across reads, splits several in one read, drops CR and blank lines', () => {
    const { lines } = split([
      Buffer.from('{"a"'),
      Buffer.from(':1}\n{"b":2}\r\n\n{"c"'),
      Buffer.from(':3}\n'),
    ]);
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('keeps a multi-byte character split between reads', () => {
    const bytes = Buffer.from('{"t":"é€"}\n');
    const { lines } = split([bytes.subarray(0, 8), bytes.subarray(8)]);
    assert.deepEqual(lines, ['{"t":"é€"}']);
  });

  it('reports a line over the limit once and stops', () => {
    const { lines, overflow } = split([
      Buffer.from('x'.repeat(60)),
      Buffer.from('y'.repeat(60)),
      Buffer.from('\n{}\n'),
    ]);
    assert.deepEqual(lines, []);
    assert.deepEqual(overflow, [120]);
  });

  it('frames any cut of the same bytes into the same lines as one read does', () => {
    const text = '{"a":"é€😀"}\r\n\n  \n{"b":[1,2]}\n{"c":"\u00ff"}\n{"tail"';
    const bytes = Buffer.concat([Buffer.from(text), Buffer.from([0xe2, 0x82, 0x0a, 0x7b, 0x7d])]);
    const whole = split([bytes]);
    assert.deepEqual(whole.lines.slice(0, 3), ['{"a":"é€😀"}', '{"b":[1,2]}', '{"c":"ÿ"}']);
    assert.equal(whole.lines[3], '{"tail"\ufffd'); // a broken character, as decoding it alone gives
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b += 3) {
        const cut = split([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
        assert.deepEqual(cut, whole, `cut at ${a}, ${b}`);
      }
    }
  });

  it('stops at an over-long line in the middle of a read, after the lines before it', () => {
    const { lines, overflow } = split([
      Buffer.from(`{"a":1}\n${'x'.repeat(150)}\n{"b":2}\n`),
      Buffer.from('{"c":3}\n'),
    ]);
    assert.deepEqual(lines, ['{"a":1}']);
    assert.deepEqual(overflow, [150]);
  });

  it('accepts a line of exactly the limit', () => {
    const { lines, overflow } = split([Buffer.from(`${'x'.repeat(100)}\n`)]);
    assert.equal(lines.length, 1);
    assert.deepEqual(overflow, []);
  });
});

describe('SDK wire: nesting bound', () => {
  const nested = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  it('refuses data and call args nested deeper than MAX_JSON_DEPTH, naming the limit', () => {
    const data = `{"data":{"sdkclient":{"name":"a"},"payload":{"x":${nested(5000)}}}}`;
    const call = `{"signal":{"sdkclient":{"name":"a","call":{"go":{"x":${nested(5000)}}}}}}`;
    for (const line of [data, call]) {
      assert.deepEqual(parseAppLine(line), {
        ok: false,
        error: `nested deeper than ${MAX_JSON_DEPTH} levels`,
      });
    }
  });

  it('lets through the deepest payload, and the hub takes the user frame that carries it', () => {
    // line, data, payload: the payload's own levels start at 3, as in the user frame.
    const line = `{"data":{"sdkclient":{"name":"a"},"payload":{"x":${nested(MAX_JSON_DEPTH - 3)}}}}`;
    const r = parseAppLine(line);
    assert.ok(r.ok && r.value.kind === 'data');
    const frame = encode({
      type: USER_MESSAGE_TYPE,
      payload: { app: r.value.app, payload: r.value.payload },
      channel: 'sensors',
      ts: '2026-05-06T14:22:46.123Z',
    } as Message);
    assert.ok(parseFrame(frame, toHubValidators).ok);
  });
});
