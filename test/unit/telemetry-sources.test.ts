import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { probeBuiltins } from '../../src/telemetry/builtin-sources.js';
import {
  firstNumber,
  meminfoField,
  parseCpuTimes,
  parseNetDev,
} from '../../src/telemetry/proc-text.js';
import { CpuSource } from '../../src/telemetry/sources/cpu-source.js';
import { DiskSource } from '../../src/telemetry/sources/disk-source.js';
import { MemorySource } from '../../src/telemetry/sources/memory-source.js';
import { NetworkSource } from '../../src/telemetry/sources/network-source.js';
import { NumberFileSource } from '../../src/telemetry/sources/number-file-source.js';
import { findThermalSensor } from '../../src/telemetry/sources/thermal-sensor.js';
import { FakeClock } from '../helpers/fake-clock.js';
import {
  meminfoText,
  netDevText,
  procFixture,
  statText,
  writeBasicProc,
  type ProcFixture,
} from '../helpers/proc-fixture.js';

const fixtures: ProcFixture[] = [];
function fixture(): ProcFixture {
  const f = procFixture();
  fixtures.push(f);
  return f;
}
after(() => fixtures.forEach((f) => f.remove()));

describe('cpu', () => {
  it('is the busy % of all cores between two samples, from /proc/stat deltas', () => {
    const f = fixture();
    f.write('proc/stat', statText({ user: 100, system: 50, idle: 850 }));
    const cpu = new CpuSource(f.procRoot);
    cpu.prime();
    // +30 user, +10 system, +5 irq, +5 iowait (idle), +150 idle: 45 busy of 200.
    f.write('proc/stat', statText({ user: 130, system: 60, idle: 1000, iowait: 5, irq: 5 }));
    assert.equal(cpu.read(), 22.5);
    f.write('proc/stat', statText({ user: 230, system: 60, idle: 1000, iowait: 5, irq: 5 }));
    assert.equal(cpu.read(), 100);
    cpu.close();
  });

  it('keeps the last value when nothing elapsed or counters went backwards', () => {
    const f = fixture();
    f.write('proc/stat', statText({ user: 10, system: 0, idle: 30 }));
    const cpu = new CpuSource(f.procRoot);
    assert.equal(cpu.read(), 25, 'unprimed: since boot');
    assert.equal(cpu.read(), 25, 'same counters');
    f.write('proc/stat', statText({ user: 1, system: 0, idle: 1 }));
    assert.equal(cpu.read(), 25, 'counters reset');
    cpu.close();
  });
});

describe('memory', () => {
  it('is (MemTotal − MemAvailable) / MemTotal', () => {
    const f = fixture();
    f.write('proc/meminfo', meminfoText({ total: 1_000_000, free: 100_000, available: 375_000 }));
    const memory = new MemorySource(f.procRoot);
    assert.equal(memory.read(), 62.5);
    f.write('proc/meminfo', meminfoText({ total: 1_000_000, free: 100_000, available: 900_000 }));
    assert.equal(memory.read(), 10, 'the open file is re-read');
    memory.close();
  });

  it('falls back to MemFree + Buffers + Cached on kernels without MemAvailable', () => {
    const f = fixture();
    f.write('proc/meminfo', meminfoText({ total: 100_000, free: 16_000 }));
    assert.equal(new MemorySource(f.procRoot).read(), 80);
  });
});

describe('load, uptime and custom files', () => {
  it('read the first number, scaled', () => {
    const f = fixture();
    writeBasicProc(f);
    f.write('sys/bus/w1/sensor', '21875\n');
    assert.equal(new NumberFileSource('load', `${f.procRoot}/loadavg`).read(), 0.52);
    assert.equal(new NumberFileSource('uptime', `${f.procRoot}/uptime`).read(), 12498.96);
    assert.equal(new NumberFileSource('w1', `${f.sysRoot}/bus/w1/sensor`, 0.001).read(), 21.875);
  });

  it('fail with a message naming the problem, and read again once the file is back', () => {
    const f = fixture();
    const source = new NumberFileSource('x', `${f.sysRoot}/x`);
    assert.throws(() => source.read(), /ENOENT/);
    f.write('sys/x', 'garbage');
    assert.throws(() => source.read(), /not a number/);
    f.write('sys/x', '7');
    assert.equal(source.read(), 7);
  });
});

describe('disk', () => {
  it('is used / (used + available), as df computes it', () => {
    const disk = new DiskSource('/data', (path) => {
      assert.equal(path, '/data');
      return { blocks: 1000, bfree: 300, bavail: 250 };
    });
    assert.equal(disk.read(), 73.68); // 700 / 950
    const pseudo = new DiskSource('/proc', () => ({ blocks: 0, bfree: 0, bavail: 0 }));
    assert.throws(() => pseudo.read(), /without blocks/);
  });
});

describe('network', () => {
  it('is bytes per second over all interfaces but lo, or the configured ones', () => {
    const f = fixture();
    const clock = new FakeClock();
    const rows = (eth0: number, wlan0: number, lo: number) =>
      netDevText([
        { name: 'lo', rx: lo, tx: lo },
        { name: 'eth0', rx: eth0, tx: eth0 * 2 },
        { name: 'wlan0', rx: wlan0, tx: 0 },
      ]);
    f.write('proc/net/dev', rows(1000, 500, 10));
    const now = () => clock.now();
    const rx = new NetworkSource({ direction: 'rx', procRoot: f.procRoot, interfaces: [], now });
    const tx = new NetworkSource({ direction: 'tx', procRoot: f.procRoot, interfaces: [], now });
    const eth0 = new NetworkSource({
      direction: 'rx',
      procRoot: f.procRoot,
      interfaces: ['eth0'],
      now,
    });
    for (const s of [rx, tx, eth0]) s.prime();
    clock.advance(2000);
    f.write('proc/net/dev', rows(3000, 1500, 999_999));
    assert.equal(rx.read(), 1500); // (2000 + 1000) / 2 s, lo ignored
    assert.equal(tx.read(), 2000);
    assert.equal(eth0.read(), 1000);
    clock.advance(1000);
    f.write('proc/net/dev', rows(100, 1600, 0)); // eth0 was re-created: its counter restarted
    assert.equal(rx.read(), 100);
  });

  it('fails when none of the configured interfaces exists', () => {
    const f = fixture();
    writeBasicProc(f);
    const source = new NetworkSource({
      direction: 'rx',
      procRoot: f.procRoot,
      interfaces: ['wwan0'],
      now: () => 0,
    });
    assert.throws(() => source.read(), /wwan0/);
  });
});

describe('temperature', () => {
  function zones(f: ProcFixture, list: { type: string; temp?: string }[]): void {
    list.forEach((z, i) => {
      f.write(`sys/class/thermal/thermal_zone${i}/type`, `${z.type}\n`);
      if (z.temp !== undefined) f.write(`sys/class/thermal/thermal_zone${i}/temp`, z.temp);
    });
  }

  it('picks the CPU/SoC zone over others and scales millidegrees', () => {
    const f = fixture();
    zones(f, [
      { type: 'acpitz', temp: '27800\n' },
      { type: 'iwlwifi_1', temp: 'not available\n' },
      { type: 'x86_pkg_temp', temp: '48312\n' },
    ]);
    const choice = findThermalSensor(f.sysRoot, '');
    assert.ok(choice.ok);
    assert.equal(choice.sensor.label, 'thermal_zone2 (x86_pkg_temp)');
    assert.equal(new NumberFileSource('temperature', choice.sensor.path, 0.001).read(), 48.312);
  });

  it('orders zones numerically and takes the first readable one when none says CPU', () => {
    const f = fixture();
    for (const i of [10, 2]) {
      f.write(`sys/class/thermal/thermal_zone${i}/type`, `board${i}\n`);
      f.write(`sys/class/thermal/thermal_zone${i}/temp`, `${i}000\n`);
    }
    const choice = findThermalSensor(f.sysRoot, '');
    assert.ok(choice.ok && choice.sensor.label === 'thermal_zone2 (board2)');
  });

  it('uses the zone named by config, by directory or by type', () => {
    const f = fixture();
    zones(f, [
      { type: 'cpu-thermal', temp: '51000' },
      { type: 'gpu-thermal', temp: '44000' },
    ]);
    for (const name of ['thermal_zone1', 'gpu-thermal']) {
      const choice = findThermalSensor(f.sysRoot, name);
      assert.ok(choice.ok && choice.sensor.label === 'thermal_zone1 (gpu-thermal)', name);
    }
    const missing = findThermalSensor(f.sysRoot, 'ddr-thermal');
    assert.ok(!missing.ok);
    assert.match(missing.reason, /no thermal zone "ddr-thermal".*thermal_zone0 \(cpu-thermal\)/);
  });

  it('falls back to hwmon when no zone reads, and is absent when neither exists', () => {
    const f = fixture();
    zones(f, [{ type: 'cpu-thermal' }]); // a zone without a readable temp
    f.write('sys/class/hwmon/hwmon0/name', 'nvme\n');
    f.write('sys/class/hwmon/hwmon0/temp1_input', '35000\n');
    f.write('sys/class/hwmon/hwmon1/name', 'coretemp\n');
    f.write('sys/class/hwmon/hwmon1/temp1_input', '61000\n');
    const choice = findThermalSensor(f.sysRoot, '');
    assert.ok(choice.ok && choice.sensor.label === 'hwmon1 (coretemp)');

    const empty = fixture();
    const none = findThermalSensor(empty.sysRoot, '');
    assert.ok(!none.ok);
    assert.match(none.reason, /no readable thermal zone/);
  });
});

describe('probeBuiltins', () => {
  it('gives a source for every stream the tree provides and a reason for the others', () => {
    const f = fixture();
    writeBasicProc(f);
    const probes = probeBuiltins({
      procRoot: f.procRoot,
      sysRoot: f.sysRoot,
      thermalZone: '',
      diskPath: '/',
      networkInterfaces: [],
      clock: new FakeClock(),
      statfs: () => ({ blocks: 10, bfree: 5, bavail: 5 }),
    });
    const available = [...probes].filter(([, p]) => p.ok).map(([name]) => name);
    assert.deepEqual(available, [
      'cpu',
      'memory',
      'load',
      'disk',
      'network.rx',
      'network.tx',
      'uptime',
    ]);
    const temperature = probes.get('temperature');
    assert.ok(temperature && !temperature.ok && /thermal zone/.test(temperature.reason));
    for (const p of probes.values()) if (p.ok) p.source.close();
  });
});

describe('proc text parsers (fuzz)', () => {
  it('either return finite numbers or throw an Error, for any input', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const alphabet = 'cpu MemTotal: kB 0123456789.-\n:|lo eth0 \t';
    const samples = [statText({ user: 1, system: 2, idle: 3 }), meminfoText({ total: 5, free: 1 })];
    for (let i = 0; i < 2000; i++) {
      const base = samples[i % samples.length] as string;
      let text = '';
      const length = Math.floor(random() * 120);
      for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
      const input = i % 3 === 0 ? base.slice(0, Math.floor(random() * base.length)) + text : text;
      for (const parse of [
        () => {
          const t = parseCpuTimes(input);
          return [t.busy, t.total];
        },
        () => [meminfoField(input, 'MemTotal') ?? 0],
        () => parseNetDev(input).flatMap((r) => [r.rx, r.tx]),
        () => [firstNumber(input)],
      ]) {
        let numbers: number[];
        try {
          numbers = parse();
        } catch (err) {
          assert.ok(err instanceof Error, `threw ${String(err)} for ${JSON.stringify(input)}`);
          continue;
        }
        for (const n of numbers) assert.ok(Number.isFinite(n), `${n} for ${JSON.stringify(input)}`);
      }
    }
  });
});
