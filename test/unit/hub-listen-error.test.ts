import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listenError } from '../../src/roots/hub-root.js';

/**
 * The listen failures `iottly-agent hub` turns into one line and exit 69. EADDRINUSE and
 * EADDRNOTAVAIL are produced for real in test/integration/first-run.test.ts; EACCES needs a
 * privileged port and a user without the privilege, which a test machine may not give, so its
 * errno error is built here.
 */
const errno = (code: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`listen ${code}`), { code, syscall: 'listen' });

describe('listenError', () => {
  it('names the port, the host and the errno in one line, keeping the cause', () => {
    const where = { host: '127.0.0.1', port: 80 };
    const denied = listenError(errno('EACCES'), where);
    assert.equal(
      denied?.message,
      'hub: port 80 on 127.0.0.1 is not permitted (EACCES): ports below 1024 need root; choose another --port',
    );
    assert.equal(denied?.code, 'hub_listen_failed');
    assert.equal((denied?.cause as Error).message, 'listen EACCES');
    assert.equal(
      listenError(errno('EADDRINUSE'), where)?.message,
      'hub: port 80 on 127.0.0.1 is in use (EADDRINUSE)',
    );
  });

  it('leaves any other failure alone (a bug keeps its stack trace)', () => {
    assert.equal(listenError(errno('EMFILE'), { host: '::', port: 0 }), undefined);
    assert.equal(listenError(new Error('boom'), { host: '::', port: 0 }), undefined);
    const stateDirDenied = Object.assign(new Error('EACCES: permission denied, mkdir'), {
      code: 'EACCES',
      syscall: 'mkdir',
    });
    assert.equal(listenError(stateDirDenied, { host: '::', port: 0 }), undefined, 'not a port');
  });
});
