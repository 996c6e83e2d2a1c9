/**
 * @module Hand-rolled SVG charts for the benchmark (no dependencies): scatter and line charts on
 * linear axes, and grouped bar charts. Self-contained files that a browser or GitHub renders.
 */

export interface Series {
  name: string;
  color: string;
  points: readonly (readonly [number, number])[];
}

export interface XYChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Axis ranges; default from the data. */
  xMax?: number;
  yMax?: number;
  /** scatter: dots; line: polylines. */
  kind: "scatter" | "line";
  /** Vertical markers (e.g. load level boundaries) and horizontal ones (e.g. deadlines). */
  vLines?: readonly { x: number; label: string }[];
  hLines?: readonly { y: number; label: string; color?: string }[];
}

export interface BarChart {
  title: string;
  yLabel: string;
  groups: readonly { label: string; bars: readonly { name: string; value: number; color: string }[] }[];
  yMax?: number;
  format?: (value: number) => string;
}

const WIDTH = 880;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 170, top: 40, bottom: 55 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

export const COLORS = {
  premium: "#1b7837",
  standard: "#2166ac",
  free: "#d6604d",
  full: "#2166ac",
  bare: "#999999",
  tiered: "#1b7837",
  fifo: "#b2182b",
  on: "#1b7837",
  off: "#999999",
};

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** About five round tick values from 0 to max. */
function ticks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= max * 1.0001; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

function frame(title: string, body: string[], legend: readonly { name: string; color: string }[]): string {
  const legendItems = legend.map(
    (item, k) =>
      `<rect x="${WIDTH - MARGIN.right + 15}" y="${MARGIN.top + 10 + k * 20}" width="12" height="12" fill="${item.color}"/>` +
      `<text x="${WIDTH - MARGIN.right + 33}" y="${MARGIN.top + 21 + k * 20}" font-size="12">${escape(item.name)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`,
    ...body,
    ...legendItems,
    "</svg>",
    "",
  ].join("\n");
}

function axes(
  xTicks: number[],
  yTicks: number[],
  sx: (x: number) => number,
  sy: (y: number) => number,
  xLabel: string,
  yLabel: string,
  xFormat = (v: number) => String(v),
): string[] {
  const out: string[] = [];
  for (const y of yTicks) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${sy(y)}" y2="${sy(y)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${sy(y) + 4}" text-anchor="end" font-size="11">${y}</text>`);
  }
  for (const x of xTicks) {
    out.push(`<line x1="${sx(x)}" x2="${sx(x)}" y1="${MARGIN.top + PLOT_H}" y2="${MARGIN.top + PLOT_H + 4}" stroke="#333"/>`);
    out.push(`<text x="${sx(x)}" y="${MARGIN.top + PLOT_H + 17}" text-anchor="middle" font-size="11">${escape(xFormat(x))}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 12}" text-anchor="middle" font-size="12">${escape(xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escape(yLabel)}</text>`);
  return out;
}

export function xyChart(chart: XYChart): string {
  const all = chart.series.flatMap((s) => s.points);
  const xMax = chart.xMax ?? Math.max(1e-9, ...all.map((p) => p[0]));
  const yMax = chart.yMax ?? Math.max(1e-9, ...all.map((p) => p[1])) * 1.05;
  const sx = (x: number) => +(MARGIN.left + (Math.min(x, xMax) / xMax) * PLOT_W).toFixed(1);
  const sy = (y: number) => +(MARGIN.top + PLOT_H - (Math.min(Math.max(y, 0), yMax) / yMax) * PLOT_H).toFixed(1);
  const body = axes(ticks(xMax), ticks(yMax), sx, sy, chart.xLabel, chart.yLabel);
  for (const line of chart.vLines ?? []) {
    body.push(`<line x1="${sx(line.x)}" x2="${sx(line.x)}" y1="${MARGIN.top}" y2="${MARGIN.top + PLOT_H}" stroke="#888" stroke-dasharray="4 3"/>`);
    body.push(`<text x="${sx(line.x) + 4}" y="${MARGIN.top + 13}" font-size="11" fill="#555">${escape(line.label)}</text>`);
  }
  for (const line of chart.hLines ?? []) {
    const color = line.color ?? "#888";
    body.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${sy(line.y)}" y2="${sy(line.y)}" stroke="${color}" stroke-dasharray="6 3"/>`);
    body.push(`<text x="${MARGIN.left + PLOT_W - 4}" y="${sy(line.y) - 4}" text-anchor="end" font-size="11" fill="${color}">${escape(line.label)}</text>`);
  }
  for (const series of chart.series) {
    if (series.points.length === 0) continue;
    if (chart.kind === "line") {
      const path = series.points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ");
      body.push(`<polyline fill="none" stroke="${series.color}" stroke-width="1.8" points="${path}"/>`);
    } else {
      body.push(`<g fill="${series.color}" fill-opacity="0.55">`);
      for (const [x, y] of series.points) body.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="1.8"/>`);
      body.push("</g>");
    }
  }
  return frame(chart.title, body, chart.series);
}

export function barChart(chart: BarChart): string {
  const values = chart.groups.flatMap((g) => g.bars.map((b) => b.value)).filter(Number.isFinite);
  const yMax = chart.yMax ?? Math.max(1e-9, ...values) * 1.1;
  const sy = (y: number) => +(MARGIN.top + PLOT_H - (Math.min(Math.max(y, 0), yMax) / yMax) * PLOT_H).toFixed(1);
  const format = chart.format ?? ((v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)));
  const body: string[] = [];
  for (const y of ticks(yMax)) {
    body.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${sy(y)}" y2="${sy(y)}" stroke="#e5e5e5"/>`);
    body.push(`<text x="${MARGIN.left - 6}" y="${sy(y) + 4}" text-anchor="end" font-size="11">${y}</text>`);
  }
  const groupW = PLOT_W / Math.max(1, chart.groups.length);
  chart.groups.forEach((group, g) => {
    const barW = (groupW * 0.8) / Math.max(1, group.bars.length);
    const x0 = MARGIN.left + g * groupW + groupW * 0.1;
    group.bars.forEach((bar, b) => {
      const x = +(x0 + b * barW).toFixed(1);
      const v = Number.isFinite(bar.value) ? bar.value : 0;
      body.push(`<rect x="${x}" y="${sy(v)}" width="${+(barW - 2).toFixed(1)}" height="${+(MARGIN.top + PLOT_H - sy(v)).toFixed(1)}" fill="${bar.color}"/>`);
      if (barW >= 18) {
        body.push(`<text x="${+(x + barW / 2 - 1).toFixed(1)}" y="${sy(v) - 3}" text-anchor="middle" font-size="9">${escape(format(bar.value))}</text>`);
      }
    });
    body.push(`<text x="${+(x0 + groupW * 0.4).toFixed(1)}" y="${MARGIN.top + PLOT_H + 17}" text-anchor="middle" font-size="11">${escape(group.label)}</text>`);
  });
  body.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#333"/>`);
  body.push(`<text transform="translate(18 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escape(chart.yLabel)}</text>`);
  const legend = new Map<string, string>();
  for (const group of chart.groups) for (const bar of group.bars) legend.set(bar.name, bar.color);
  return frame(
    chart.title,
    body,
    [...legend].map(([name, color]) => ({ name, color })),
  );
}
