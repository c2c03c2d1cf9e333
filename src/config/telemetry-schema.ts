import { Format } from './formats.js';
import type { CustomStreamSpec, StreamSettings } from '../telemetry/stream-specs.js';

/**
 * The `telemetry` configuration section (README's table lists every key); src/config/schema.ts
 * mounts it, and the composition root hands its values to the feature as TelemetrySettings.
 */
export const TelemetryDefaults = {
  streams: ['cpu', 'memory', 'temperature'],
  intervalMs: 10_000,
  minIntervalMs: 1_000,
  diskPath: '/',
  procRoot: '/proc',
  sysRoot: '/sys',
} as const;

export const telemetryConfigSchema = {
  streams: {
    doc: 'Built-in streams sampled by config (cpu, memory, temperature, load, disk, network, uptime); the others are sampled only while a stream client subscribes.',
    format: Format.telemetryStreams,
    default: [...TelemetryDefaults.streams] as string[],
  },
  intervalMs: {
    doc: 'Sampling interval of every stream without its own in telemetry.perStream.',
    format: Format.ms,
    default: TelemetryDefaults.intervalMs as number,
  },
  minIntervalMs: {
    doc: 'Fastest interval a subscription may ask for (its interval_ms is raised to this).',
    format: Format.ms,
    default: TelemetryDefaults.minIntervalMs as number,
  },
  randomStart: {
    doc: 'Start the streams at one random phase per device (each at that phase modulo its interval), so a fleet does not sample in lockstep while one device samples its streams together.',
    format: Format.strictBoolean,
    default: true,
  },
  perStream: {
    doc: 'Per-stream settings by name: { "cpu": { "intervalMs": 5000, "deadband": 2, "maxSilentIntervals": 6 } }; deadband sends only when the value moved by more than that, but at least every maxSilentIntervals samples.',
    format: Format.telemetryPerStream,
    default: {} as Record<string, StreamSettings>,
  },
  custom: {
    doc: 'Custom streams: [{ "name", "file", "scale"? } | { "name", "command", "timeoutMs" }], each with "enabled"? (default true; false = only while subscribed).',
    format: Format.telemetryCustom,
    default: [] as CustomStreamSpec[],
  },
  thermalZone: {
    doc: 'Thermal zone for temperature: its directory (thermal_zone1) or type (x86_pkg_temp); empty picks the CPU/SoC zone, then hwmon.',
    format: Format.requiredString,
    default: '',
  },
  diskPath: {
    doc: 'A path on the file system whose used % the disk stream reports.',
    format: Format.requiredString,
    default: TelemetryDefaults.diskPath as string,
  },
  networkInterfaces: {
    doc: 'Interfaces the network streams count (JSON array or "eth0,wlan0"); empty counts all but lo.',
    format: Format.interfaceList,
    default: [] as string[],
  },
  procRoot: {
    doc: 'Where /proc is (a host /proc mounted into a container, or a test fixture).',
    format: Format.requiredString,
    default: TelemetryDefaults.procRoot as string,
  },
  sysRoot: {
    doc: 'Where /sys is (a host /sys mounted into a container, or a test fixture).',
    format: Format.requiredString,
    default: TelemetryDefaults.sysRoot as string,
  },
};
