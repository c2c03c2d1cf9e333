import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnAgent } from '../helpers/agent-process.js';

/**
 * The agent refuses a token that every user on the device can read, and a config or token file
 * that every user can change (exit 78), unless told.
 */
describe('permissions of files holding the device token', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perm-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const base = { server: { url: 'ws://127.0.0.1:9/v1/device' }, device: { id: 'dev1' } };

  function write(name: string, content: string, mode: number): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    chmodSync(path, mode); // the umask would take the bits under test away
    return path;
  }

  it('refuses a world-readable config file holding auth.token, naming the fix and the escape hatch', async (t) => {
    const path = write('open.json', JSON.stringify({ ...base, auth: { token: 'T' } }), 0o644);
    for (const command of ['run', 'check-config']) {
      const agent = spawnAgent(t, [command, '--config', path]);
      assert.equal((await agent.exited()).code, 78);
      assert.equal(
        agent.output().trim(),
        `iottly-agent: config error: config file ${path} holds the device token but every user can read it (mode 0644): run "chmod o-rwx ${path}" (0640 root:iottly or 0600), or pass --allow-insecure-config-permissions`,
      );
    }
    const allowed = spawnAgent(t, [
      'check-config',
      '--config',
      path,
      '--allow-insecure-config-permissions',
    ]);
    assert.equal((await allowed.exited()).code, 0, allowed.output());
  });

  it('accepts 0640 and 0600, and a world-readable config whose token comes from elsewhere', async (t) => {
    for (const mode of [0o640, 0o600]) {
      const path = write(
        `ok-${mode}.json`,
        JSON.stringify({ ...base, auth: { token: 'T' } }),
        mode,
      );
      assert.equal((await spawnAgent(t, ['check-config', '--config', path]).exited()).code, 0);
    }
    const noToken = write('no-token.json', JSON.stringify(base), 0o644);
    const viaEnv = spawnAgent(t, ['check-config', '--config', noToken], { IOTTLY_AUTH_TOKEN: 'T' });
    assert.equal((await viaEnv.exited()).code, 0, viaEnv.output());
  });

  it('applies the same rule to auth.tokenFile', async (t) => {
    const open = write('open.token', 'T\n', 0o604);
    const agent = spawnAgent(t, ['check-config', '--auth-token-file', open], {
      IOTTLY_SERVER_URL: base.server.url,
      IOTTLY_DEVICE_ID: 'dev1',
    });
    assert.equal((await agent.exited()).code, 78);
    assert.match(
      agent.output(),
      /auth\.tokenFile .*open\.token holds the device token .*mode 0604/,
    );
  });

  it(
    'refuses a config file every user can change (0602), even without a token in it',
    { timeout: 30_000 },
    async (t) => {
      const path = write('open-write.json', JSON.stringify(base), 0o602);
      for (const command of ['run', 'check-config']) {
        const agent = spawnAgent(t, [command, '--config', path], { IOTTLY_AUTH_TOKEN: 'T' });
        assert.equal((await agent.exited()).code, 78);
        assert.equal(
          agent.output().trim(),
          `iottly-agent: config error: config file ${path} can be changed by every user (mode 0602), so anyone could point the agent at their own hub: run "chmod o-rwx ${path}" (0640 root:iottly or 0600), or pass --allow-insecure-config-permissions`,
        );
      }
      const allowed = spawnAgent(
        t,
        ['check-config', '--config', path, '--allow-insecure-config-permissions'],
        { IOTTLY_AUTH_TOKEN: 'T' },
      );
      assert.equal((await allowed.exited()).code, 0, allowed.output());
    },
  );

  it('refuses a token file every user can change, and a file in a folder every user can change', async (t) => {
    const env = { IOTTLY_SERVER_URL: base.server.url, IOTTLY_DEVICE_ID: 'dev1' };
    const writable = write('writable.token', 'T\n', 0o602);
    const token = spawnAgent(t, ['check-config', '--auth-token-file', writable], env);
    assert.equal((await token.exited()).code, 78);
    assert.match(
      token.output(),
      /auth\.tokenFile .*writable\.token can be changed by every user .*mode 0602/,
    );

    const open = join(dir, 'open-folder');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const inOpen = join(open, 'config.json');
    writeFileSync(inOpen, JSON.stringify(base));
    const agent = spawnAgent(t, ['check-config', '--config', inOpen], { IOTTLY_AUTH_TOKEN: 'T' });
    assert.equal((await agent.exited()).code, 78);
    assert.match(
      agent.output(),
      /the folder .*open-folder of config file .*config\.json can be changed by every user \(mode 0777\).*chmod o-w/,
    );
    chmodSync(open, 0o1777); // sticky, as /tmp: only the file's owner may replace it
    const sticky = spawnAgent(t, ['check-config', '--config', inOpen], { IOTTLY_AUTH_TOKEN: 'T' });
    assert.equal((await sticky.exited()).code, 0, sticky.output());
  });
});
