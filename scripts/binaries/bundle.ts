import { build } from 'esbuild';

/**
 * The agent as one CommonJS file, the only kind of script a single executable runs. Targets
 * the oldest Node inside a binary (20.11 on armv7l). The source avoids top-level `await`, which
 * CommonJS cannot hold; ws's optional native add-ons stay out (it runs without them).
 */
export const BUNDLE_NODE_TARGET = 'node20.11';

export async function bundleAgent(entry: string, outfile: string): Promise<{ bytes: number }> {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: BUNDLE_NODE_TARGET,
    minify: false, // readable stack traces in the field are worth more than ~0.5 MB
    legalComments: 'eof',
    external: ['bufferutil', 'utf-8-validate'],
    metafile: true,
    logLevel: 'warning',
    // The hub finds the console beside its module (import.meta.url); in a binary there is
    // none, and static-files.ts knows an empty import.meta means exactly that.
    logOverride: { 'empty-import-meta': 'silent' },
  });
  const output = Object.values(result.metafile.outputs)[0];
  return { bytes: output?.bytes ?? 0 };
}
