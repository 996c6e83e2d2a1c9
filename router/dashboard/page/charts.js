// @ts-check
/**
 * @module The dashboard's charts: one uPlot line chart per figure, its series the keys the points
 * hold (tiers, reasons, replicas, origins), made again when that set of keys changes (a new
 * replica, an origin added), else given the new data in place. uPlot is the classic script
 * /dashboard/uplot.iife.min.js, loaded before this module, on `window.uPlot`.
 */

/** @typedef {import("./series.js").Point} Point */
/** @typedef {{ id: string, title: string, unit: string, values: (p: Point) => Record<string, number | null>, range?: [number, number] }} ChartSpec */

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];
const HEIGHT = 220;

/** @param {Record<string, number | null>} values @param {number} by @returns {Record<string, number | null>} */
const scaled = (values, by) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v === null ? null : v * by]));
/** @param {string} prefix @param {Record<string, number | null>} values @returns {Record<string, number | null>} */
const prefixed = (prefix, values) => Object.fromEntries(Object.entries(values).map(([k, v]) => [`${prefix}${k}`, v]));

/** @type {ChartSpec[]} */
export const CHARTS = [
  {
    id: "latency",
    title: "Latency p50 / p99 per tier",
    unit: "ms",
    values: (p) => ({ ...prefixed("p50 ", scaled(p.p50, 1000)), ...prefixed("p99 ", scaled(p.p99, 1000)) }),
  },
  { id: "throughput", title: "Throughput", unit: "req/s", values: (p) => p.throughput },
  { id: "slo", title: "SLO attainment per tier (last minute, within the default deadline)", unit: "%", values: (p) => scaled(p.slo, 100), range: [0, 100] },
  {
    id: "refusals",
    title: "Refusals, spills and degraded requests by reason",
    unit: "/s",
    values: (p) => ({ ...prefixed("refused ", p.refusals), ...prefixed("spilled ", p.spills), ...prefixed("degraded ", p.degraded) }),
  },
  { id: "queues", title: "Queue length per replica", unit: "requests", values: (p) => p.queueLength },
  { id: "sessions", title: "Sessions loaded per replica", unit: "sessions", values: (p) => p.sessionsLoaded },
  { id: "origins", title: "Origin health (1 up, 0 down)", unit: "", values: (p) => p.originUp, range: [0, 1] },
  {
    id: "cache",
    title: "Response cache hit ratio per model (versions uploaded with cache_ttl_seconds)",
    unit: "%",
    values: (p) => scaled(p.cacheHitRatio, 100),
    range: [0, 100],
  },
];

/** One figure: its title, the latest values in words, and the uPlot chart. */
class Chart {
  /** @type {any} */
  plot = undefined;
  /** @type {string} */
  keysSignature = "";

  /** @param {ChartSpec} spec @param {HTMLElement} parent */
  constructor(spec, parent) {
    this.spec = spec;
    this.figure = document.createElement("figure");
    this.figure.dataset.chart = spec.id;
    const caption = document.createElement("figcaption");
    caption.textContent = spec.unit ? `${spec.title} (${spec.unit})` : spec.title;
    this.latest = document.createElement("p");
    this.latest.className = "latest";
    this.body = document.createElement("div");
    this.figure.append(caption, this.latest, this.body);
    parent.append(this.figure);
  }

  /** @param {Point[]} points */
  update(points) {
    const rows = points.map((p) => this.spec.values(p));
    const keys = [...new Set(rows.flatMap((row) => Object.keys(row)))].sort();
    const data = [points.map((p) => p.t), ...keys.map((key) => rows.map((row) => row[key] ?? null))];
    const last = rows.at(-1) ?? {};
    this.figure.dataset.latest = JSON.stringify(last);
    this.latest.textContent = keys.length === 0 ? "nothing to show yet" : keys.map((key) => `${key}: ${format(last[key])}`).join(" · ");
    if (this.plot === undefined || keys.join("\n") !== this.keysSignature) this.rebuild(keys, data);
    else this.plot.setData(data);
  }

  /** @param {string[]} keys @param {(number | null)[][]} data */
  rebuild(keys, data) {
    this.plot?.destroy();
    this.keysSignature = keys.join("\n");
    const { range } = this.spec;
    const uPlot = /** @type {any} */ (window).uPlot;
    this.plot = new uPlot(
      {
        width: this.width(),
        height: HEIGHT,
        series: [{}, ...keys.map((key, k) => ({ label: key, stroke: PALETTE[k % PALETTE.length], width: 1.5, spanGaps: false }))],
        scales: {
          x: { time: true },
          y: range
            ? { range: () => range }
            : { range: (/** @type {any} */ _u, /** @type {number} */ min, /** @type {number} */ max) => [Math.min(0, min), Math.max(1, max)] },
        },
        axes: [{}, { size: 56 }],
      },
      data,
      this.body,
    );
  }

  width() {
    return Math.max(280, this.figure.clientWidth - 16);
  }

  resize() {
    this.plot?.setSize({ width: this.width(), height: HEIGHT });
  }

  destroy() {
    this.plot?.destroy();
    this.figure.remove();
  }
}

/** @param {number | null | undefined} value */
function format(value) {
  if (value === null || value === undefined) return "–";
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(value % 1 === 0 ? 0 : 2);
}

/** Every chart of the dashboard under `parent`. @param {HTMLElement} parent */
export function createCharts(parent) {
  const charts = CHARTS.map((spec) => new Chart(spec, parent));
  const onResize = () => charts.forEach((chart) => chart.resize());
  window.addEventListener("resize", onResize);
  return {
    /** @param {Point[]} points */
    update: (points) => charts.forEach((chart) => chart.update(points)),
    destroy: () => {
      window.removeEventListener("resize", onResize);
      charts.forEach((chart) => chart.destroy());
    },
  };
}
