import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { runPublish } from '../../src/cli/publish.js';

/**
 * Which socket `publish` knocks on when none is configured. A user who is not root finds their own
 * agent's socket (the per-user default), else the installed service's: an app user in
 * local.socketGroup publishes through the service without knowing its path.
 */
async function socketTried(
  existing: string[],
  uid: number,
): Promise<{ path: string; err: string }> {
  const tried: string[] = [];
  let err = '';
  const code = await runPublish(['{"t": 1}'], {
    env: { XDG_RUNTIME_DIR: '/run/user/1000' },
    uid,
    homeDir: '/home/ann',
    stdin: Readable.from([]),
    stderr: { write: (text: string) => (err += text) },
    readFile: () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    },
    exists: (path) => existing.includes(path),
    // Nothing listens at a path in an empty namespace: the handshake fails at once.
    connect: (path) => {
      tried.push(path);
      return createConnection('\0iottly-agent-test-nothing-here');
    },
  });
  assert.equal(code, 69);
  assert.equal(tried.length, 1);
  return { path: tried[0] ?? '', err };
}

describe('publish: the default socket', () => {
  const mine = '/run/user/1000/iottly-agent/sdk.sock';
  const service = '/run/iottly-agent/sdk.sock';

  it("a user's own agent first", async () => {
    assert.equal((await socketTried([mine, service], 1000)).path, mine);
  });

  it("else the installed service's", async () => {
    assert.equal((await socketTried([service], 1000)).path, service);
  });

  it('neither there: the per-user one, named in the message with the other', async () => {
    const { path, err } = await socketTried([], 1000);
    assert.equal(path, mine);
    assert.match(err, new RegExp(`socket ${mine}; nor at ${service}`));
  });

  it('root: the service socket only', async () => {
    assert.equal((await socketTried([], 0)).path, service);
  });
});
