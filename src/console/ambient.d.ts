/** esbuild bundles a stylesheet imported for its side effect; it has no exports. */
declare module '*.css';

/**
 * src/protocol/parse.ts, shared with the hub, also holds `frameText`, which names Node's
 * Buffer. The console never calls it (esbuild leaves it out of the bundle); these two lines
 * let the browser build type-check without pulling in all of Node's types.
 */
interface Buffer {
  toString(encoding?: string): string;
}
declare const Buffer: { concat(list: readonly Buffer[]): Buffer; from(data: ArrayBuffer): Buffer };
