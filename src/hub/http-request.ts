import type { IncomingMessage } from 'node:http';

/**
 * Reading a REST request: its body within a byte bound (read no further than the bound), and a
 * path segment decoded without throwing.
 */

/** The body as text, or null when it is larger than `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const pieces: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        resolve(null);
        return;
      }
      pieces.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(pieces).toString('utf8')));
    req.on('error', reject);
  });
}

/** A path segment decoded, or null when it is not valid percent-encoded UTF-8 (no id is). */
export function decodedOrNull(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}
