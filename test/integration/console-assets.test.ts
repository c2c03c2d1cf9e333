import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONSOLE_ASSET_PREFIX,
  CONSOLE_MANIFEST_ASSET,
  consoleAssets,
  type SeaAssets,
} from '../../src/hub/file-source.js';
import { embeddedConsole } from '../../src/roots/embedded-console.js';
import { startHub } from '../helpers/ws.js';

/**
 * The console inside a single-executable binary, read through `node:sea` as the hub starts:
 * here against an object with node:sea's two functions over a map of assets, as the blob holds
 * them (build:binaries puts them there; test:binaries checks a real binary serves them).
 */
function fakeSea(assets: Record<string, string>, isSea = true): SeaAssets & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    isSea: () => isSea,
    getAsset(key) {
      reads.push(key);
      const text = assets[key];
      // node:sea throws for a key the blob does not carry.
      if (text === undefined) throw new Error(`no asset ${key}`);
      return new Uint8Array(Buffer.from(text)).buffer;
    },
  };
}

const PAGE = '<!doctype html><title>from the blob</title><script src="console.js"></script>';
const BLOB = {
  [CONSOLE_MANIFEST_ASSET]: JSON.stringify(['index.html', 'console.js']),
  [`${CONSOLE_ASSET_PREFIX}index.html`]: PAGE,
  [`${CONSOLE_ASSET_PREFIX}console.js`]: 'export {};',
};

describe('the console from a binary’s assets', () => {
  it('is none outside a binary, in a binary without it, or where Node has no node:sea', () => {
    assert.equal(consoleAssets(undefined), null);
    assert.equal(consoleAssets(fakeSea(BLOB, false)), null);
    assert.equal(consoleAssets(fakeSea({})), null);
    assert.equal(
      embeddedConsole(() => undefined),
      null,
    );
    assert.equal(embeddedConsole(undefined), null, 'Node 20.11: no process.getBuiltinModule');
  });

  it('lists the files of its manifest and reads each only when asked', () => {
    const sea = fakeSea(BLOB);
    const source = embeddedConsole((id) => (id === 'node:sea' ? sea : undefined));
    assert.ok(source);
    assert.deepEqual(source.list(), ['index.html', 'console.js']);
    assert.deepEqual(sea.reads, [CONSOLE_MANIFEST_ASSET]);
    assert.equal(source.read('index.html').toString(), PAGE);
  });

  it('a hub given it serves the page and its script at / (and reads them as it starts)', async (t) => {
    const sea = fakeSea(BLOB);
    const { hub, url } = await startHub(t, { consoleFiles: consoleAssets(sea)! });
    assert.equal(hub.consoleAvailable, true);
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.equal(await page.text(), PAGE);
    const script = await fetch(`${url}/console.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
  });
});
