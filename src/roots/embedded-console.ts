import { consoleAssets, type FileSource, type SeaAssets } from '../hub/file-source.js';

/**
 * The console this process carries inside itself, when it is a single-executable binary built
 * with it; null otherwise (the hub then serves `dist/console/`). `node:sea` is reached through
 * `process.getBuiltinModule`, not an import: Node 20.11 (the armv7l binary, and the oldest Node
 * the npm package supports) has neither, and an import of it would stop the program there.
 */
export function embeddedConsole(
  getBuiltinModule: ((id: string) => unknown) | undefined = builtinModules(),
): FileSource | null {
  return consoleAssets(getBuiltinModule?.('node:sea') as SeaAssets | undefined);
}

function builtinModules(): ((id: string) => unknown) | undefined {
  const { getBuiltinModule } = process as { getBuiltinModule?: (id: string) => unknown };
  return getBuiltinModule?.bind(process);
}
