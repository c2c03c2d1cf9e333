import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CommandResults,
  DEFAULT_COMMAND_RESULT_LIMITS,
  ENTRY_OVERHEAD_BYTES,
  type CommandResultLimits,
  type CommandResultView,
} from '../../src/hub/command-api/command-results.js';
import { MIN_OUTPUT_CAPACITY } from '../../src/hub/command-api/output-buffer.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** The Command API's result store: bounded in count, bytes and time, and who waited. */
function store(limits: Partial<CommandResultLimits> = {}) {
  const clock = new FakeClock();
  const ended: { view: CommandResultView; waited: boolean }[] = [];
  const results = new CommandResults({
    clock,
    limits: { ...DEFAULT_COMMAND_RESULT_LIMITS, ...limits },
    onEnd: (view, waited) => ended.push({ view, waited }),
  });
  return { clock, results, ended };
}

const DONE = { exit_code: 0, signal: null, timed_out: false, cancelled: false, truncated: false };

describe('CommandResults', () => {
  it('collects output per fd and shows it with the command_done fields once ended', () => {
    const { results } = store();
    assert.ok(results.open('c1', 'dev1', 'command'));
    results.output('c1', 'stdout', Buffer.from('hel'));
    results.output('c1', 'stderr', Buffer.from('warn\n'));
    results.output('c1', 'stdout', Buffer.from('lo\n'));
    assert.equal(results.get('c1')?.state, 'running');
    assert.equal(results.get('c1')?.result, null);
    results.end('c1', DONE);
    const view = results.get('c1');
    assert.equal(view?.state, 'done');
    assert.deepEqual(view?.result, { ...DONE, stdout: 'hello\n', stderr: 'warn\n' });
  });

  it('gives output that is not UTF-8 as base64 and says so', () => {
    const { results } = store();
    results.open('c1', 'dev1', 'command');
    results.output('c1', 'stdout', Buffer.from([0xff, 0x00, 0x41]));
    results.end('c1', DONE);
    const result = results.get('c1')?.result;
    assert.equal(result?.stdout, Buffer.from([0xff, 0x00, 0x41]).toString('base64'));
    assert.equal(result?.stdout_encoding, 'base64');
    assert.equal(result?.stderr_encoding, undefined);
  });

  it('keeps at most maxOutputBytes of one command and marks it clipped', () => {
    const { results } = store({ maxOutputBytes: 10 });
    results.open('c1', 'dev1', 'command');
    results.output('c1', 'stdout', Buffer.from('0123456'));
    results.output('c1', 'stderr', Buffer.from('abcdef'));
    results.output('c1', 'stdout', Buffer.from('zzz'));
    results.end('c1', DONE);
    const result = results.get('c1')?.result;
    assert.equal(result?.stdout, '0123456');
    assert.equal(result?.stderr, 'abc');
    assert.equal(result?.output_clipped, true);
  });

  it('evicts the oldest ended result for a new one past maxResults, never a running one', () => {
    const { results } = store({ maxResults: 2 });
    results.open('a', 'dev1', 'command');
    results.open('b', 'dev1', 'command');
    assert.equal(results.open('c', 'dev1', 'command'), false, 'both running: no room');
    results.end('b', DONE);
    assert.ok(results.open('c', 'dev1', 'command'));
    assert.equal(results.get('b'), undefined, 'b (ended) made room');
    assert.equal(results.get('a')?.state, 'running');
    assert.equal(results.size, 2);
  });

  it('keeps its bytes under maxBytes: old results go first, then output is clipped', () => {
    const { results } = store({ maxBytes: ENTRY_OVERHEAD_BYTES + 4096, maxOutputBytes: 4096 });
    results.open('old', 'dev1', 'command');
    results.output('old', 'stdout', Buffer.alloc(2000, 0x61));
    results.end('old', DONE);
    results.open('new', 'dev1', 'command');
    results.output('new', 'stdout', Buffer.alloc(2000, 0x62));
    assert.equal(results.get('old'), undefined, 'the ended result was evicted for the new output');
    results.output('new', 'stdout', Buffer.alloc(4000, 0x63));
    assert.ok(results.bytes <= ENTRY_OVERHEAD_BYTES + 4096, `${results.bytes} bytes held`);
    results.end('new', DONE);
    assert.equal(results.get('new')?.result?.output_clipped, true);
  });

  it('forgets an ended result ttlMs after its end; a running one stays', () => {
    const { clock, results } = store({ ttlMs: 1000 });
    results.open('ended', 'dev1', 'command');
    results.open('running', 'dev1', 'command');
    results.end('ended', DONE);
    clock.advance(999);
    assert.equal(results.get('ended')?.state, 'done');
    clock.advance(1);
    assert.equal(results.get('ended'), undefined);
    assert.equal(results.has('ended'), false);
    assert.equal(results.get('running')?.state, 'running');
    assert.equal(results.bytes, results.size * ENTRY_OVERHEAD_BYTES);
  });

  it('wakes a waiter at the end and tells onEnd it was waited for; unwaited otherwise', async () => {
    const { clock, results, ended } = store();
    results.open('w', 'dev1', 'command');
    const waiting = results.waitForEnd('w', 5000);
    results.end('w', DONE);
    assert.equal((await waiting)?.state, 'done');
    results.open('late', 'dev1', 'command');
    const timedOut = results.waitForEnd('late', 1000);
    clock.advance(1000);
    assert.equal((await timedOut)?.state, 'running');
    results.end('late', DONE);
    assert.deepEqual(
      ended.map((e) => [e.view.request_id, e.waited]),
      [
        ['w', true],
        ['late', false],
      ],
    );
  });

  it('stops waiting when the signal aborts (the HTTP client left)', async () => {
    const { results, ended } = store();
    results.open('c', 'dev1', 'command');
    const gone = new AbortController();
    const waiting = results.waitForEnd('c', 60_000, gone.signal);
    gone.abort();
    assert.equal((await waiting)?.state, 'running');
    results.end('c', DONE);
    assert.equal(ended[0]?.waited, false);
  });

  it('answers a waiter of a result expired while it waited as for an unknown id', async () => {
    const { clock, results } = store({ ttlMs: 1000 });
    results.open('c', 'dev1', 'command');
    results.end('c', DONE);
    clock.advance(1000);
    assert.equal(await results.waitForEnd('c', 5000), undefined);
    results.open('r', 'dev1', 'command');
    const waiting = results.waitForEnd('r', 5000);
    results.discard('r');
    assert.equal(await waiting, undefined);
  });

  it('shows an app_command ending as it came, without output fields', () => {
    const { results } = store();
    results.open('a', 'dev1', 'app_command');
    results.end('a', { delivered: ['plc'] });
    assert.deepEqual(results.get('a')?.result, { delivered: ['plc'] });
    assert.equal(results.get('a')?.type, 'app_command');
  });

  it('discards a refused entry and ignores a second ending', () => {
    const { results, ended } = store();
    results.open('r', 'dev1', 'command');
    results.discard('r');
    assert.equal(results.get('r'), undefined);
    assert.equal(results.bytes, 0);
    results.open('d', 'dev1', 'command');
    results.end('d', { exit_code: 1 });
    results.end('d', { exit_code: 2 });
    assert.equal(results.get('d')?.result?.exit_code, 1);
    assert.equal(ended.length, 1);
  });

  it('holds output in memory of its own: at most twice the output while running, exactly it once ended', () => {
    // Each chunk is what Buffer.from makes of a frame's string: a slice of Node's shared pool.
    // Kept as such, a chunk of one byte held its whole 8 KiB slab (and a Buffer object besides).
    const { results } = store();
    const pieces = 2_000;
    for (let c = 0; c < 10; c++) results.open(`c${c}`, 'dev1', 'command');
    for (let i = 0; i < pieces; i++)
      results.output(`c${i % 10}`, i % 3 === 0 ? 'stderr' : 'stdout', Buffer.from('x'));
    const output = pieces; // one byte each
    // Running: doubling from MIN_OUTPUT_CAPACITY, never more than twice what each fd holds.
    assert.ok(
      results.outputCapacity <= 2 * output + 20 * MIN_OUTPUT_CAPACITY,
      `${results.outputCapacity} bytes held for ${output} bytes of output`,
    );
    for (let c = 0; c < 10; c++) results.end(`c${c}`, DONE);
    assert.equal(results.outputCapacity, output);
    assert.equal(results.get('c0')?.result?.stdout, 'x'.repeat(133));
    assert.equal(results.get('c0')?.result?.stderr, 'x'.repeat(67));
  });

  it('gives back what a trimmed output no longer needs', () => {
    const { results } = store({ maxBytes: ENTRY_OVERHEAD_BYTES + 400 });
    results.open('c1', 'dev1', 'command');
    results.output('c1', 'stdout', Buffer.alloc(300, 0x61));
    results.end('c1', { ...DONE, note: 'y'.repeat(200) });
    const result = results.get('c1')?.result;
    assert.equal(result?.output_clipped, true);
    assert.equal(results.outputCapacity, String(result?.stdout).length);
    assert.ok(results.bytes <= ENTRY_OVERHEAD_BYTES + 400);
    assert.ok(results.outputCapacity < 300);
  });
});
