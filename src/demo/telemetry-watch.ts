import WebSocket from 'ws';

/**
 * The demo's stream client: subscribes to a device's telemetry on `/v1/stream` (as a
 * dashboard would) and prints one compact line per round of samples, so a person running
 * `npm start` sees numbers flow from /proc through the agent and the hub.
 */
export interface TelemetryWatchOptions {
  streamUrl: string;
  deviceId: string;
  streams: string[];
  intervalMs: number;
  write: (line: string) => void;
}

const UNITS: Record<string, (value: number) => string> = {
  cpu: (v) => `${v.toFixed(1)}%`,
  memory: (v) => `${v.toFixed(1)}%`,
  temperature: (v) => `${v.toFixed(1)}°C`,
  load: (v) => v.toFixed(2),
  'network.rx': (v) => `${(v / 1024).toFixed(1)} KiB/s`,
  'network.tx': (v) => `${(v / 1024).toFixed(1)} KiB/s`,
};

export function watchTelemetry(options: TelemetryWatchOptions): { close(): Promise<void> } {
  const ws = new WebSocket(options.streamUrl, { perMessageDeflate: false });
  const latest = new Map<string, number>();
  let lastLine = 0;
  ws.on('open', () =>
    ws.send(
      JSON.stringify({
        type: 'subscribe',
        request_id: 'demo',
        payload: {
          device_id: options.deviceId,
          streams: options.streams,
          interval_ms: options.intervalMs,
        },
      }),
    ),
  );
  ws.on('message', (data) => {
    let frame: {
      type: string;
      payload: { stream?: string; value?: number; subscription_id?: string };
    };
    try {
      frame = JSON.parse(data.toString()) as typeof frame;
    } catch {
      return; // the demo only shows what it can read
    }
    if (frame.type === 'subscribed') {
      options.write(
        `  subscribed to ${options.streams.join(', ')} (${frame.payload.subscription_id})`,
      );
    }
    if (frame.type !== 'telemetry' || frame.payload.stream === undefined) return;
    latest.set(frame.payload.stream, frame.payload.value ?? NaN);
    // One line per round: print when a round's samples have had a moment to arrive.
    const now = Date.now();
    if (now - lastLine < options.intervalMs / 2) return;
    lastLine = now;
    setTimeout(() => options.write(`  telemetry  ${describe(latest)}`), 100).unref();
  });
  ws.on('error', (err) => options.write(`  telemetry watch: ${err.message}`));
  return {
    close: () =>
      new Promise((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) resolve();
        else {
          ws.once('close', () => resolve());
          ws.close();
        }
      }),
  };
}

function describe(latest: ReadonlyMap<string, number>): string {
  return [...latest]
    .map(([stream, value]) => `${stream} ${(UNITS[stream] ?? String)(value)}`)
    .join('  ');
}
