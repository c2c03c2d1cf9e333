import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { JournalFs } from '../../src/hub/delivery-journal.js';
import { Hub } from '../../src/hub/hub.js';
import { captureLogger } from '../helpers/log-capture.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * What the hub keeps on disk is read in `start()`, never when the hub is made. The delivery
 * journal (`stateDir`) goes through an injected file system: a journal the hub cannot open
 * stops the start before it listens (the CLI then exits 70 with the errno, as it always did).
 */
const STATE_DIR = '/state';
const JOURNAL = `${STATE_DIR}/delivery.jsonl`;

/** A journal directory held in memory; each operation is counted, and can be made to fail. */
class MemoryJournalFs implements JournalFs {
  readonly files = new Map<string, string>();
  readonly calls: string[] = [];
  /** While set, the operation named (or every one, without `op`) throws this errno. */
  fault: { errno: string; op?: keyof JournalFs } | null = null;
  readonly #open = new Map<number, string>();
  #nextFd = 3;

  mkdirp(): void {
    this.#call('mkdirp');
  }
  readFile(path: string): string | null {
    this.#call('readFile');
    return this.files.get(path) ?? null;
  }
  openAppend(path: string): number {
    this.#call('openAppend');
    this.#open.set(this.#nextFd, path);
    return this.#nextFd++;
  }
  append(fd: number, text: string): void {
    this.#call('append');
    const path = this.#open.get(fd) ?? assert.fail(`append to fd ${fd}, which is not open`);
    this.files.set(path, (this.files.get(path) ?? '') + text);
  }
  close(fd: number): void {
    this.#call('close');
    this.#open.delete(fd);
  }
  replaceFile(path: string, text: string): void {
    this.#call('replaceFile');
    this.files.set(path, text);
  }
  get openFiles(): number {
    return this.#open.size;
  }

  #call(name: keyof JournalFs): void {
    this.calls.push(name);
    if (this.fault && (this.fault.op ?? name) === name)
      throw Object.assign(new Error(`${this.fault.errno}: injected fault`), {
        code: this.fault.errno,
        syscall: name,
      });
  }
}

function hubOn(
  journalFs: JournalFs,
  t: TestContext,
  consoleDir: string | null = null,
): { hub: Hub; lines: { msg: string }[] } {
  const { logger, lines } = captureLogger();
  const hub = new Hub({
    apiKeys: ['key1'],
    deviceTokens: new Map([['dev-1', 'tok-1']]),
    stateDir: STATE_DIR,
    journalFs,
    consoleDir,
    logger,
  });
  t.after(() => hub.stop());
  return { hub, lines };
}

describe('hub start', () => {
  it('reads the console folder as it starts, not when it is made', async (t) => {
    const dir = tempDir('hub-console-', t);
    const { hub } = hubOn(new MemoryJournalFs(), t, dir);
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title>');
    assert.equal(hub.consoleAvailable, false);
    await hub.start();
    assert.equal(hub.consoleAvailable, true, 'the page written after the hub was made is served');
  });

  it('reads nothing when made, and takes the kept cursors as it starts', async (t) => {
    const fs = new MemoryJournalFs();
    fs.files.set(
      JOURNAL,
      '{"d":"dev-1","s":"store-aaaa","q":41}\n{"d":"dev-1","s":"store-aaaa","q":42}\n',
    );
    const { hub } = hubOn(fs, t);
    assert.deepEqual(fs.calls, [], 'the constructor touches no file');
    assert.equal(hub.lastSeq('dev-1'), 0);

    await hub.start();
    assert.equal(hub.lastSeq('dev-1'), 42, 'the last line for the device wins');
    assert.deepEqual(fs.calls, ['mkdirp', 'readFile', 'replaceFile', 'openAppend']);
    assert.equal(fs.files.get(JOURNAL), '{"d":"dev-1","s":"store-aaaa","q":42}\n', 'compacted');

    await hub.stop();
    assert.equal(fs.openFiles, 0, 'stop closes the journal');
  });

  it('does not listen when its journal cannot be written: start rejects with the errno', async (t) => {
    const fs = new MemoryJournalFs();
    fs.fault = { errno: 'EROFS' };
    const { hub, lines } = hubOn(fs, t);
    assert.deepEqual(fs.calls, []);

    await assert.rejects(hub.start(), { code: 'EROFS', syscall: 'mkdirp' });
    assert.equal(hub.state, 'stopped');
    assert.ok(!lines.some((l) => l.msg === 'hub listening'), 'never listened');
    await hub.stop(); // a hub whose start failed stops without a journal to close
    assert.deepEqual(fs.calls, ['mkdirp']);
  });

  it('does not listen when its journal cannot be read either', async (t) => {
    const fs = new MemoryJournalFs();
    const { hub, lines } = hubOn(fs, t);
    fs.fault = { errno: 'EIO', op: 'readFile' };
    await assert.rejects(hub.start(), { code: 'EIO', syscall: 'readFile' });
    assert.equal(hub.state, 'stopped');
    assert.ok(!lines.some((l) => l.msg === 'hub listening'));
    assert.equal(fs.openFiles, 0);
  });
});
