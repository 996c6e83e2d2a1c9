/**
 * @module The dashboard's files, bundled into the Worker as text modules (wrangler.toml's
 * `[[rules]]` for the page's .js and .css, the default rule for .html), served as they are from
 * memory: no asset binding, no build step, and uPlot's own dist files, byte for byte. A new file
 * under page/ needs its glob in those rules; `npm run types` then declares its module as a string.
 */
import uplotScript from "uplot/dist/uPlot.iife.min.js";
import uplotStyle from "uplot/dist/uPlot.min.css";
import charts from "./page/charts.js";
import style from "./page/dashboard.css";
import page from "./page/index.html";
import main from "./page/main.js";
import series from "./page/series.js";

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

export interface DashboardAsset {
  body: string;
  contentType: string;
}

export const DASHBOARD_PAGE: DashboardAsset = { body: page, contentType: "text/html; charset=utf-8" };

/** The files under /dashboard/, by name. */
export const DASHBOARD_FILES: ReadonlyMap<string, DashboardAsset> = new Map([
  ["main.js", { body: main, contentType: JS }],
  ["charts.js", { body: charts, contentType: JS }],
  ["series.js", { body: series, contentType: JS }],
  ["dashboard.css", { body: style, contentType: CSS }],
  ["uplot.iife.min.js", { body: uplotScript, contentType: JS }],
  ["uplot.min.css", { body: uplotStyle, contentType: CSS }],
]);
