import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { HeapProbe, inspectorUrl } from '../../bench/soak/heap-probe.js';

/**
 * The soak's forced collection, against a real Node process with its inspector on a free
 * loopback port: a garbage heap falls back to what the process keeps alive.
 */
describe('soak heap probe', () => {
  it('finds the inspector URL in what node --inspect prints', () => {
    assert.equal(
      inspectorUrl('Debugger listening on ws://127.0.0.1:40001/0f1e-2d\nFor help, see: …'),
      'ws://127.0.0.1:40001/0f1e-2d',
    );
    assert.equal(inspectorUrl('nothing yet'), null);
  });

  it('forces a full collection in another process and reads its live heap', async (t) => {
    // 40 MiB of garbage made once and dropped; 4 MiB kept alive.
    const child = spawn(
      process.execPath,
      [
        '--inspect=127.0.0.1:0',
        '-e',
        `globalThis.kept = Array.from({ length: 4 }, () => 'k'.repeat(1 << 20).split('').join(''));
         let garbage = Array.from({ length: 40 }, (_, i) => Buffer.alloc(1 << 20, i).toString('latin1'));
         garbage = null;
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    t.after(async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    while (inspectorUrl(stderr) === null) await once(child.stderr, 'data');
    const probe = await HeapProbe.connect(inspectorUrl(stderr) as string);
    t.after(() => probe.close());
    const heap = await probe.collect();
    assert.ok(heap.usedBytes <= heap.totalBytes);
    assert.ok(heap.usedBytes >= 4 * 1024 * 1024, `used ${heap.usedBytes}`);
    assert.ok(
      heap.usedBytes < 20 * 1024 * 1024,
      `used ${heap.usedBytes}: the garbage was not collected`,
    );
  });
});
