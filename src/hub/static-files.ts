import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FileSource } from './file-source.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { errorBody, methodNotAllowed, sendJson } from './http-reply.js';

/**
 * The console's static files, served at `/`: built by `npm run build` into `dist/console/`, or
 * carried inside a single-executable binary as its assets (file-source.ts has both sources).
 *
 * The source is read once, as the hub starts (`load()`): a flat set of small files held in
 * memory, so a request never touches the file system and no path from a request ever reaches
 * it (a name is looked up in the set; `..`, slashes and anything else unknown are simply not
 * there). Everything the page needs is in the folder: it loads nothing from elsewhere and works
 * offline. The page gets a strict Content-Security-Policy: its own scripts and styles only
 * (plus the terminal's generated styles), connections to this hub only.
 */
export const INDEX_FILE = 'index.html';
/** The page's script, as the build names it; only a built folder has it. */
export const BUNDLE_FILE = 'console.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

const PAGE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  // xterm.js (the console's terminal) writes its colours and cell sizes into <style> elements
  // it makes at run time, which only 'unsafe-inline' allows. Scripts stay 'self' only, and the
  // page puts what devices send into text nodes, so no markup from outside reaches the page.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface StaticFile {
  body: Buffer;
  contentType: string;
}

export interface StaticFilesOptions {
  /** Finds the files to serve, when loading; null serves nothing (every path falls through). */
  source: () => FileSource | null;
}

export class StaticFiles {
  readonly #files = new Map<string, StaticFile>();
  readonly #locate: () => FileSource | null;
  /** Where the files came from; null until loaded, or when there is no source. */
  #source: FileSource | null = null;

  constructor({ source }: StaticFilesOptions) {
    this.#locate = source;
  }

  /** Reads the files into memory (once, as the hub starts). */
  load(): void {
    const source = this.#locate();
    this.#source = source;
    if (source === null) return;
    for (const name of source.list()) {
      const contentType = CONTENT_TYPES[extname(name)];
      if (contentType) this.#files.set(`/${name}`, { body: source.read(name), contentType });
    }
  }

  /** Whether the console was found (its index.html). */
  get available(): boolean {
    return this.#files.has(`/${INDEX_FILE}`);
  }

  /** Answers `req` when it is for one of the files (or for the console at `/`); else false. */
  serve(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const path = url.pathname === '/' ? `/${INDEX_FILE}` : url.pathname;
    const file = this.#files.get(path);
    if (!file) {
      if (path !== `/${INDEX_FILE}` || this.#source === null) return false;
      // The hub runs, the page was never built: say how to get it rather than a bare 404.
      sendJson(
        res,
        503,
        errorBody(
          ErrorCode.notFound,
          `the console is not built (no ${INDEX_FILE} in ${this.#source.where}): run npm run build`,
        ),
      );
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      methodNotAllowed(res, 'GET, HEAD');
      return true;
    }
    res.writeHead(200, {
      'Content-Type': file.contentType,
      'Content-Length': file.body.length,
      // Revalidate on every load, so a rebuilt console is never mixed with a cached old script.
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      ...(file.contentType.startsWith('text/html')
        ? { 'Content-Security-Policy': PAGE_POLICY, 'X-Frame-Options': 'DENY' }
        : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  }
}

/**
 * Where `npm run build` puts the console: `dist/console/`, beside `dist/hub/` where this file
 * is built to. Run from the sources (tsx, in tests) this file sits in `src/hub/`, beside the
 * console's sources (an index.html template but no bundle), and the built console is still in
 * `dist/console/`.
 */
export function defaultConsoleDir(moduleUrl: string | undefined = import.meta.url): string | null {
  // A single-executable binary is a CommonJS bundle: no module URL and no dist/ beside it. Its
  // console comes from its assets instead (consoleAssets in file-source.ts); where its Node
  // has none (armv7l), there is no console: the hub still runs and `/` answers 404.
  if (!moduleUrl) return null;
  const candidates = ['../console/', '../../dist/console/'].map((relative) =>
    fileURLToPath(new URL(relative, moduleUrl)),
  );
  const built = (dir: string): boolean =>
    existsSync(join(dir, INDEX_FILE)) && existsSync(join(dir, BUNDLE_FILE));
  return candidates.find(built) ?? (candidates[0] as string);
}
