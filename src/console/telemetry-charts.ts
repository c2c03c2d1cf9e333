import uPlot from 'uplot';
import { h } from './dom.js';
import { TimeSeries } from './time-series.js';

/**
 * One small uPlot chart per telemetry stream of the selected device. Samples are kept in
 * bounded series (5 minutes, at most 600 points) and drawn at most once per animation frame,
 * however fast frames arrive; charts follow the pane's width. Each chart card carries
 * `data-stream` and `data-points` so tests (and curious people) can see it move.
 */
export const CHART_WINDOW_MS = 5 * 60_000;
const CHART_CAPACITY = 600;
const CHART_HEIGHT = 100;
/** The card's horizontal padding (console.css `.chart`). */
const CARD_PADDING_PX = 24;

interface StreamFormat {
  label: string;
  format: (value: number) => string;
  /** Percentages keep a fixed 0–100 scale, so a flat 5 % does not look like a storm. */
  percent?: boolean;
}

const FORMATS: Record<string, StreamFormat> = {
  cpu: { percent: true, label: 'CPU', format: (v) => `${v.toFixed(1)} %` },
  memory: { percent: true, label: 'Memory', format: (v) => `${v.toFixed(1)} %` },
  temperature: { label: 'Temperature', format: (v) => `${v.toFixed(1)} °C` },
  load: { label: 'Load (1 min)', format: (v) => v.toFixed(2) },
  disk: { percent: true, label: 'Disk used', format: (v) => `${v.toFixed(1)} %` },
  'network.rx': { label: 'Network in', format: bytesPerSecond },
  'network.tx': { label: 'Network out', format: bytesPerSecond },
  uptime: { label: 'Uptime', format: (v) => `${(v / 3600).toFixed(2)} h` },
};

interface Chart {
  card: HTMLElement;
  value: HTMLElement;
  series: TimeSeries;
  plot: uPlot;
  format: StreamFormat;
}

export class TelemetryCharts {
  readonly #root: HTMLElement;
  readonly #charts = new Map<string, Chart>();
  readonly #dirty = new Set<Chart>();
  readonly #resize: ResizeObserver;
  #frame: number | null = null;

  constructor(root: HTMLElement) {
    this.#root = root;
    this.#resize = new ResizeObserver(() => this.#fitWidth());
    this.#resize.observe(root);
  }

  /** Lays out one empty chart per stream, in order, replacing what was shown. */
  show(streams: readonly string[]): void {
    this.clear();
    for (const stream of streams) this.#chart(stream);
  }

  add(stream: string, tsMs: number, value: number): void {
    const chart = this.#charts.get(stream) ?? this.#chart(stream);
    if (!chart.series.push(tsMs, value)) return;
    this.#dirty.add(chart);
    this.#frame ??= requestAnimationFrame(() => this.#draw());
  }

  clear(): void {
    if (this.#frame !== null) cancelAnimationFrame(this.#frame);
    this.#frame = null;
    this.#dirty.clear();
    for (const chart of this.#charts.values()) chart.plot.destroy();
    this.#charts.clear();
    this.#root.replaceChildren();
  }

  #chart(stream: string): Chart {
    const format = FORMATS[stream] ?? {
      label: stream,
      format: (v: number) => String(Number(v.toPrecision(6))),
    };
    const value = h('span', { class: 'chart-value' }, '–');
    const card = h(
      'section',
      { class: 'chart', 'data-stream': stream, 'data-points': '0' },
      h('header', {}, h('span', { class: 'chart-label' }, format.label), value),
    );
    this.#root.append(card);
    const series = new TimeSeries({ windowMs: CHART_WINDOW_MS, capacity: CHART_CAPACITY });
    const plot = new uPlot(
      {
        width: plotWidth(card),
        height: CHART_HEIGHT,
        legend: { show: false },
        // Room on the right for the newest time label, which sits at the edge.
        padding: [8, 28, 0, 0],
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: format.percent ? { range: [0, 100] } : { auto: true } },
        axes: [
          {
            stroke: '#8b93a7',
            grid: { stroke: '#2a3142', width: 1 },
            ticks: { show: false },
            size: 24,
            space: 70,
            incrs: [1, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600],
            // One line of wall-clock time (uPlot's default adds a second, date line).
            values: (_u, splits) => splits.map(clockTime),
          },
          {
            stroke: '#8b93a7',
            grid: { stroke: '#2a3142', width: 1 },
            ticks: { show: false },
            size: 56,
            values: (_u, splits) => splits.map((v) => format.format(v)),
          },
        ],
        series: [
          {},
          {
            label: format.label,
            stroke: '#4fc3f7',
            width: 2,
            fill: 'rgba(79, 195, 247, 0.12)',
            points: { show: false },
          },
        ],
      },
      series.data(),
      card,
    );
    const chart: Chart = { card, value, series, plot, format };
    this.#charts.set(stream, chart);
    return chart;
  }

  #draw(): void {
    this.#frame = null;
    for (const chart of this.#dirty) {
      chart.plot.setData(chart.series.data());
      const latest = chart.series.latest;
      chart.value.textContent = latest === undefined ? '–' : chart.format.format(latest);
      chart.card.dataset['points'] = String(chart.series.length);
    }
    this.#dirty.clear();
  }

  #fitWidth(): void {
    for (const chart of this.#charts.values()) {
      const width = plotWidth(chart.card);
      if (chart.plot.width !== width) chart.plot.setSize({ width, height: CHART_HEIGHT });
    }
  }
}

/** Charts fill their grid cell (console.css lays the cards out). */
function plotWidth(card: HTMLElement): number {
  return Math.max(160, card.clientWidth - CARD_PADDING_PX);
}

function clockTime(seconds: number): string {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

function bytesPerSecond(v: number): string {
  if (v < 1024) return `${v.toFixed(0)} B/s`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB/s`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB/s`;
}
