import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { exitOnFatalError, type FatalProcess } from '../../src/cli/fatal.js';
import { captureLogger } from '../helpers/log-capture.js';

/** A process stand-in: the real one would exit the test runner. */
function fakeProcess(): FatalProcess & { emitter: EventEmitter; exits: number[] } {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  return {
    emitter,
    exits,
    on: ((event: string, listener: (...args: unknown[]) => void) => {
      emitter.on(event, listener);
      return process;
    }) as FatalProcess['on'],
    off: ((event: string, listener: (...args: unknown[]) => void) => {
      emitter.off(event, listener);
      return process;
    }) as FatalProcess['off'],
    exit: ((code: number) => {
      exits.push(code);
    }) as FatalProcess['exit'],
  };
}

describe('exitOnFatalError', () => {
  it('ends what would outlive the process, logs the error as fatal and exits 70', () => {
    const proc = fakeProcess();
    const { logger, lines } = captureLogger();
    const order: string[] = [];
    exitOnFatalError({ logger, process: proc, abort: () => (order.push('abort'), 2) });
    proc.emitter.emit('uncaughtException', new Error('boom'));
    assert.deepEqual(order, ['abort']);
    assert.deepEqual(proc.exits, [70]);
    const fatal = lines.find((l) => l.level === 60);
    assert.equal(fatal?.code, 'fatal_error');
    assert.equal(fatal?.msg, 'uncaught exception: boom; exiting with 70');
    assert.equal(fatal?.commandsKilled, 2);
    assert.equal((fatal?.err as { message: string }).message, 'boom');
  });

  it('still logs and exits 70 when ending the commands fails, and handles only the first error', () => {
    const proc = fakeProcess();
    const { logger, lines } = captureLogger();
    exitOnFatalError({
      logger,
      process: proc,
      abort: () => {
        throw new Error('EPERM');
      },
    });
    proc.emitter.emit('unhandledRejection', 'not an Error');
    proc.emitter.emit('uncaughtException', new Error('second'));
    assert.deepEqual(proc.exits, [70]);
    assert.ok(lines.some((l) => l.msg === 'could not end every running command'));
    assert.deepEqual(
      lines.filter((l) => l.level === 60).map((l) => l.msg),
      ['unhandled rejection: not an Error; exiting with 70'],
    );
  });

  it('removes its handlers when asked', () => {
    const proc = fakeProcess();
    const remove = exitOnFatalError({
      logger: captureLogger().logger,
      process: proc,
      abort: () => 0,
    });
    remove();
    assert.equal(proc.emitter.listenerCount('uncaughtException'), 0);
    assert.equal(proc.emitter.listenerCount('unhandledRejection'), 0);
  });
});
