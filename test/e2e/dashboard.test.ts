/**
 * @module End to end: the live dashboard in a real headless Chromium (Debian's, driven by
 * playwright-core) against a real local stack (wrangler dev on a free port and one origin): a
 * wrong token is refused with a clear message and the form comes back; the right one brings up
 * every chart, drawn (pixels on each canvas); a burst of inferences moves the throughput, latency
 * and SLO charts; the token is never in the URL, the page's storage, its cookies or its DOM; no
 * CSP violation or script error happens. It saves a screenshot as .hotpath/dashboard.png.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { closedLoop, waitFor } from "./harness/load.ts";
import { assertPrepared, TINY } from "./harness/models.ts";
import { PoolStack } from "./harness/pool-stack.ts";
import { rows } from "./harness/tensors.ts";

const CHROMIUM = process.env.HOTPATH_CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const SCREENSHOT = join(REPO_ROOT, ".hotpath/dashboard.png");
const CHARTS = ["latency", "throughput", "slo", "refusals", "queues", "sessions", "origins", "cache"];
/** Generous for a busy 2-core machine: the page polls every second, the stack may answer slowly. */
const UI_TIMEOUT_MS = 30_000;

const cleanup = new Cleanup();
let stack: PoolStack;
let browser: Browser;
let page: Page;
/** Console errors and CSP violations the page reported, but the 401 of the wrong token's own fetch. */
const pageErrors: string[] = [];

before(async () => {
  assertPrepared(TINY);
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (Debian's chromium package; HOTPATH_CHROMIUM names another)`);
  // The harness's default queue of 2 per host would refuse most of the burst; the refusals are not what this file is about.
  stack = await PoolStack.start(cleanup, { label: "dashboard", origins: ["o1"], vars: { HOST_MAX_QUEUE_LENGTH: "128" } });
  await stack.upload(TINY, { maxBatch: 64 });
  browser = await cleanup.start(chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS }), (b) => b.close());
  page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  page.on("console", (message) => {
    if (message.type() === "error" && !/status of 401/.test(message.text())) pageErrors.push(`${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => pageErrors.push(`uncaught: ${error.message}`));
});
after(() => cleanup.run());

/** What a chart shows now: its latest value per series (the figure's data-latest). */
async function latest(chart: string): Promise<Record<string, number | null>> {
  const text = await page.locator(`figure[data-chart="${chart}"]`).getAttribute("data-latest");
  return text ? (JSON.parse(text) as Record<string, number | null>) : {};
}

// Run in the page, so written as the browser's JavaScript (this project's Node tsconfig has no DOM types).
/** How many chart canvases there are, and how many have at least one pixel drawn (axes, grid, lines). */
const COUNT_DRAWN_CANVASES = `(() => {
  const canvases = [...document.querySelectorAll("figure canvas")];
  const drawn = canvases.filter((c) => c.getContext("2d").getImageData(0, 0, c.width, c.height).data.some((v) => v !== 0));
  return { canvases: canvases.length, drawn: drawn.length };
})()`;
const STORED = "JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })";
const chartNames = `[...document.querySelectorAll("figure[data-chart]")].map((f) => f.dataset.chart)`;
const canvasImage = (chart: string) => page.evaluate<string>(`document.querySelector('figure[data-chart="${chart}"] canvas').toDataURL()`);

async function everyCanvasDrawn(): Promise<boolean> {
  const { canvases, drawn } = await page.evaluate<{ canvases: number; drawn: number }>(COUNT_DRAWN_CANVASES);
  return canvases === CHARTS.length && drawn === canvases;
}

test("a wrong token is refused with a clear message, and the form comes back", async () => {
  await page.goto(`${stack.edgeUrl}/dashboard`);
  await page.locator("#token").fill("not-the-admin-token");
  await page.locator("#login button[type=submit]").click();
  await page.locator("#login-error").waitFor({ state: "visible", timeout: UI_TIMEOUT_MS });
  assert.match(await page.locator("#login-error").innerText(), /refused this token: invalid admin token/);
  assert.ok(await page.locator("#token").isVisible(), "the form is shown again");
  assert.equal(await page.locator("#token").inputValue(), "", "the refused token is not left in the field");
  assert.equal(await page.locator("#charts").isVisible(), false);
});

test("the right token brings up every chart, drawn, and a burst of inferences moves them", async () => {
  await page.locator("#token").fill(stack.adminToken);
  await page.locator("#login button[type=submit]").click();
  await page.locator("#charts").waitFor({ state: "visible", timeout: UI_TIMEOUT_MS });
  assert.deepEqual(await page.evaluate<string[]>(chartNames), CHARTS);
  // The second poll makes the first point: then every chart has its series.
  await waitFor("the first point on the charts", async () => "all" in (await latest("throughput")), UI_TIMEOUT_MS);
  await waitFor("every chart's canvas drawn", everyCanvasDrawn, UI_TIMEOUT_MS);
  await waitFor("origin o1 shown up", async () => (await latest("origins")).o1 === 1, UI_TIMEOUT_MS);
  const idleImage = await canvasImage("throughput");

  // Load until the charts show it, then stop: a closed loop of 4 clients, bounded in time.
  let seen = false;
  let sent = 0;
  const load = closedLoop(
    4,
    UI_TIMEOUT_MS,
    async () => (await stack.infer(TINY, rows(TINY.width, 1, sent++), 5_000)).status,
    () => seen,
  );
  try {
    await waitFor(
      "the load on the throughput, latency and SLO charts",
      async () => {
        const [throughput, latency, slo] = [await latest("throughput"), await latest("latency"), await latest("slo")];
        return (throughput.all ?? 0) > 0 && (throughput.premium ?? 0) > 0 && typeof latency["p50 premium"] === "number" && typeof slo.premium === "number";
      },
      UI_TIMEOUT_MS,
    );
  } finally {
    seen = true;
  }
  const statuses = await load;
  assert.ok(statuses.filter((status) => status === 200).length > 0, `statuses: ${statuses.join(",")}`);
  const latency = await latest("latency");
  assert.ok(latency["p99 premium"]! >= latency["p50 premium"]!, JSON.stringify(latency));
  const slo = (await latest("slo")).premium!;
  assert.ok(slo > 0 && slo <= 100, `premium SLO attainment ${slo}%`);
  assert.notEqual(await canvasImage("throughput"), idleImage, "the throughput chart was drawn again with the load");
  assert.ok(
    Object.keys(await latest("sessions")).some((replica) => replica.startsWith(`${TINY.name} `)),
    "the replica that served is charted",
  );

  mkdirSync(join(REPO_ROOT, ".hotpath"), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`# screenshot: ${SCREENSHOT} (${sent} inferences sent)`);
});

test("the token is never in the URL, the page's storage, its cookies or its DOM", async () => {
  const token = stack.adminToken;
  assert.doesNotMatch(page.url(), new RegExp(token));
  const kept = await page.evaluate<string>(STORED);
  assert.equal(kept.includes(token), false, kept);
  assert.equal((await page.content()).includes(token), false, "the token is in the page's DOM");
  assert.deepEqual(pageErrors, [], "console errors or CSP violations");
});
