/**
 * A stream client of the fleet run, in a process of its own: one `/v1/stream` connection to one
 * hub, subscribed to the telemetry of its share of the devices (all of them with one hub),
 * timing each frame's arrival against the sample time it carries. It runs apart from the
 * simulated agents so that their shared event loop, busy with thousands of agents, cannot delay
 * the moment a frame is seen; the delay measured is the agents' (sample → socket) plus the
 * hub's, and the broker's when there is one (socket → client), as an operator's backend sees it.
 *
 * Driven over the IPC channel of `fork` (bench/fleet/client-protocol.ts); ends when the parent
 * disconnects.
 */
import WebSocket from 'ws';
import type { FromStreamClient, StreamClientSettings, ToStreamClient } from './client-protocol.js';
import { DelayHistogram } from './delay-histogram.js';
import { SampleTally } from './sample-tally.js';

interface StreamFrame {
  type?: string;
  request_id?: string;
  payload?: { device_id?: string; stream?: string; ts?: string; message?: string };
}

function tell(message: FromStreamClient): void {
  process.send?.(message);
}

function runClient(settings: StreamClientSettings): void {
  const tally = new SampleTally();
  const delays = new DelayHistogram();
  let pendingSubscriptions = settings.deviceIds.length;
  let collecting: { expected: number; timer: NodeJS.Timeout } | null = null;

  const ws = new WebSocket(`${settings.wsUrl}/v1/stream?api_key=${settings.apiKey}`, {
    perMessageDeflate: false,
  });

  const answer = (): void => {
    if (!collecting) return;
    clearTimeout(collecting.timer);
    collecting = null;
    tell({
      kind: 'figures',
      figures: {
        received: tally.inWindow,
        duplicates: tally.duplicates,
        delays: delays.counts(),
      },
    });
  };

  ws.on('open', () => {
    for (const [i, deviceId] of settings.deviceIds.entries()) {
      ws.send(
        JSON.stringify({
          type: 'subscribe',
          request_id: `sub-${i}`,
          payload: { device_id: deviceId, streams: settings.streams },
        }),
      );
    }
  });
  ws.on('message', (data) => {
    const arrivedMs = Date.now();
    let frame: StreamFrame;
    try {
      frame = JSON.parse(String(data)) as StreamFrame;
    } catch {
      tell({ kind: 'failed', message: `a frame that is not JSON: ${String(data).slice(0, 80)}` });
      return;
    }
    if (frame.type === 'telemetry') {
      const { device_id, stream, ts } = frame.payload ?? {};
      if (device_id === undefined || stream === undefined || ts === undefined) {
        tell({ kind: 'failed', message: `telemetry frame without device, stream or ts: ${data}` });
        return;
      }
      const tsMs = Date.parse(ts);
      if (tally.record(device_id, stream, tsMs)) delays.record(arrivedMs - tsMs);
      if (collecting && tally.inWindow >= collecting.expected) answer();
    } else if (frame.type === 'subscribed') {
      if (--pendingSubscriptions === 0) tell({ kind: 'ready' });
    } else if (frame.type === 'error') {
      tell({
        kind: 'failed',
        message: `hub refused ${frame.request_id}: ${frame.payload?.message}`,
      });
    }
  });
  ws.on('close', (code) => {
    if (process.connected) tell({ kind: 'failed', message: `stream link closed (${code})` });
  });
  ws.on('error', (err) => tell({ kind: 'failed', message: `stream link: ${err.message}` }));

  process.on('message', (message: ToStreamClient) => {
    if (message.kind === 'window') {
      try {
        tally.setWindow(message.window);
      } catch (err) {
        tell({ kind: 'failed', message: (err as Error).message });
      }
    } else if (message.kind === 'collect') {
      collecting = { expected: message.expected, timer: setTimeout(answer, message.graceMs) };
      if (tally.inWindow >= message.expected) answer();
    }
  });
  process.once('disconnect', () => ws.terminate());
}

process.once('message', (message: ToStreamClient) => {
  if (message.kind === 'subscribe') runClient(message.settings);
  else tell({ kind: 'failed', message: `expected "subscribe" first, got "${message.kind}"` });
});
