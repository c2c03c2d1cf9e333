/**
 * Resolves with the first SIGTERM or SIGINT, so the caller can shut down gracefully. A second
 * signal while that runs exits at once (an operator pressing Ctrl-C twice means it).
 */
export function onShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (received) process.exit(130);
      received = true;
      resolve(signal);
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}
