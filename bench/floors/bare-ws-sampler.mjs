/**
 * The floor of the idle agent: a bare Node process holding one ws connection and, once a
 * second, reading cpu, memory and temperature with plain readFileSync + parse and sending each
 * as a small JSON frame. No config, no logger, no spool, no reconnect logic: what any Node
 * program doing this job must pay. Plain JavaScript, so no TypeScript loader is in the process.
 *
 *   node bare-ws-sampler.mjs <ws-url> <thermal-temp-file>
 */
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';

const [url, temperatureFile] = process.argv.slice(2);
const ws = new WebSocket(url, { perMessageDeflate: false });
let previous = null;

function cpuPercent() {
  const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0].split(/\s+/).slice(1);
  const ticks = fields.map(Number);
  const idle = ticks[3] + ticks[4];
  const total = ticks.reduce((a, b) => a + b, 0);
  const result = previous ? 100 * (1 - (idle - previous.idle) / (total - previous.total)) : 0;
  previous = { idle, total };
  return result;
}

function memoryPercent() {
  const text = readFileSync('/proc/meminfo', 'latin1');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)[1]);
  return 100 * (1 - kb('MemAvailable') / kb('MemTotal'));
}

function send(stream, value) {
  ws.send(
    JSON.stringify({
      type: 'telemetry',
      channel: 'telemetry',
      payload: { stream, ts: Date.now(), value },
    }),
  );
}

ws.on('open', () => {
  process.stdout.write('connected\n');
  setInterval(() => {
    send('cpu', cpuPercent());
    send('memory', memoryPercent());
    send('temperature', Number(readFileSync(temperatureFile, 'latin1')) / 1000);
  }, 1000);
});
ws.on('error', (err) => {
  process.stderr.write(`bare-ws-sampler: ${err.message}\n`);
  process.exit(1);
});
