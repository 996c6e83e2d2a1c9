/**
 * @module `hotpath status` without a hotpath server: the snapshot made from two polls of the
 * dashboard's summary (rates, quantiles, SLO by the page's own series.js), its tables, the live
 * view redrawn in place with the cursor hidden then restored (a failed poll shown and survived,
 * a first poll failing rejecting), and the CLI process itself, `--once --json` and off a
 * terminal, against a server answering as GET /admin/metrics/summary does.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { HIDE_CURSOR, SHOW_CURSOR, statusLive, type StatusLoop } from "../../scripts/cli/status/live.ts";
import { renderStatus } from "../../scripts/cli/status/render.ts";
import { newHistory, snapshotOf, type StatusSnapshot, type Summary } from "../../scripts/cli/status/snapshot.ts";
import { runCli } from "../e2e/harness/cli.ts";

const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const buckets = (entries: Record<number, number>) => Array.from({ length: BOUNDS.length + 1 }, (_, k) => entries[k] ?? 0);

/** A summary at `at` ms after `requests` premium requests, `fast` in (2.5, 5] ms and the rest in (2.5, 5] s, `refused` of them 503. */
function summary(at: number, requests: number, fast: number, refused = 0): Summary {
  return {
    at,
    durationBounds: BOUNDS,
    requests,
    tiers: {
      premium: { deadlineSeconds: 1, requests, refused, durationCounts: buckets({ 2: fast, 11: requests - fast }) },
      free: { deadlineSeconds: 10, requests: 0, refused: 0, durationCounts: buckets({}) },
    },
    refusals: { queue_full: refused },
    spills: { edge_busy: requests / 10 },
    degraded: {},
    queueLength: { "mlp-tiny local/0": 3 },
    sessionsLoaded: { "mlp-tiny local/0": 1 },
    originUp: { o1: 1, o2: 0 },
    cache: {},
    hostsNotScraped: 0,
  };
}

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);

function snapshotBetween(first: Summary, second: Summary): StatusSnapshot {
  const history = newHistory();
  history.add(first);
  return snapshotOf(second, history.add(second));
}

describe("the snapshot", () => {
  test("rates, quantiles and SLO come from the difference between two polls; totals and gauges as they are", () => {
    // 40 new requests in 2 s: 20 fast, 20 slow (past the 1 s deadline), 4 of the fast ones refused.
    const snapshot = snapshotBetween(summary(T0, 100, 100), summary(T0 + 2000, 140, 120, 4));
    assert.equal(snapshot.at, "2026-01-02T03:04:07.000Z");
    assert.deepEqual(snapshot.requests, { total: 140, perSecond: 20 });
    const premium = snapshot.tiers.premium!;
    assert.deepEqual([premium.requests, premium.refused, premium.perSecond, premium.deadlineSeconds], [140, 4, 20, 1]);
    assert.equal(premium.p50, 0.005, "half the new requests are in (2.5, 5] ms: the median is that bucket's top");
    assert.ok(premium.p99 !== null && premium.p99 > 2.5 && premium.p99 <= 5, `p99 ${premium.p99}`);
    assert.equal(premium.slo, (20 - 4) / 40, "within the deadline, less the refused, over all");
    assert.deepEqual([snapshot.tiers.free!.perSecond, snapshot.tiers.free!.p50, snapshot.tiers.free!.slo], [0, null, null]);
    assert.deepEqual(snapshot.refusals, { queue_full: { total: 4, perSecond: 2 } });
    assert.deepEqual(snapshot.spills, { edge_busy: { total: 14, perSecond: 2 } });
    assert.deepEqual(snapshot.replicas, { "mlp-tiny local/0": { queueLength: 3, sessionsLoaded: 1 } });
    assert.deepEqual(snapshot.origins, { o1: "up", o2: "down" });
  });

  test("after one poll the totals are there and every rate is null", () => {
    const snapshot = snapshotOf(summary(T0, 10, 10), undefined);
    assert.deepEqual(snapshot.requests, { total: 10, perSecond: null });
    assert.deepEqual([snapshot.tiers.premium!.p50, snapshot.tiers.premium!.slo], [null, null]);
  });

  test("the tables: one row per tier, reason, replica and origin, a dash where nothing was measured", () => {
    const text = renderStatus(snapshotBetween(summary(T0, 100, 100), summary(T0 + 2000, 140, 120, 4)), "http://h");
    assert.match(text, /^hotpath http:\/\/h {2}2026-01-02T03:04:07\.000Z {2}requests 140 {2}20\.0 req\/s\n/);
    assert.match(
      text,
      /\nTIER +REQ\/S +P50 +P99 +SLO +DEADLINE +REQUESTS +REFUSED\npremium +20\.0 +5\.0 ms +\d+\.\d ms +40\.00% +1 s +140 +4\nfree +0\.0 +- +- +- +10 s +0 +0\n/,
    );
    assert.match(text, /\nREFUSAL +TOTAL +PER S\nqueue_full +4 +2\.0\n/);
    assert.match(text, /\nREPLICA +QUEUE +SESSIONS\nmlp-tiny local\/0 +3 +1\n/);
    assert.match(text, /\nORIGIN +HEALTH\no1 +up\no2 +DOWN$/);
  });
});

/** A terminal that records what is written to it. */
const terminal = () => {
  let text = "";
  return { out: { write: (chunk: string) => (text += chunk), rows: 40, columns: 200 }, text: () => text };
};

describe("the live view", () => {
  test("redraws in place each poll, shows a failed poll and goes on, and shows the cursor again when stopped", async () => {
    const polls: (Summary | Error)[] = [summary(T0, 0, 0), summary(T0 + 1000, 10, 10), new Error("connection refused"), summary(T0 + 3000, 30, 30)];
    const stop = new AbortController();
    const { out, text } = terminal();
    const loop: StatusLoop = {
      url: "http://h",
      intervalMs: 5,
      describe: (error) => (error as Error).message,
      poll: async () => {
        const next = polls.shift();
        if (polls.length === 0) stop.abort();
        if (next instanceof Error) throw next;
        return next!;
      },
    };
    await statusLive(loop, out, stop.signal);
    const frames = text().split("\x1b[H").slice(1);
    assert.ok(text().startsWith(`${HIDE_CURSOR}\x1b[2J\x1b[H`), JSON.stringify(text().slice(0, 20)));
    assert.ok(text().endsWith(`\x1b[J${SHOW_CURSOR}\n`), "the cursor is shown again");
    assert.equal(frames.length, 3, "one frame per poll until the last, which came as the view was stopped");
    assert.match(frames[0]!, /waiting for a second poll/);
    assert.match(frames[1]!, /requests 10 {2}10\.0 req\/s\x1b\[K\n/);
    assert.match(frames[2]!, /requests 10 .*\x1b\[K\n\x1b\[K\nerror: connection refused \(retrying every 0\.005 s\)\x1b\[K\n/);
    for (const frame of frames) assert.match(frame, /\x1b\[J/, "clears what the previous frame left below");
  });

  test("a first poll failing rejects, and the cursor is shown again", async () => {
    const { out, text } = terminal();
    const loop: StatusLoop = { url: "http://h", intervalMs: 5, describe: String, poll: () => Promise.reject(new Error("refused")) };
    await assert.rejects(statusLive(loop, out, new AbortController().signal), /refused/);
    assert.ok(text().endsWith(`${SHOW_CURSOR}\n`));
  });
});

describe("the command", () => {
  let server: Server;
  let url: string;
  let polls = 0;
  before(async () => {
    // Each poll 10 more premium requests, all fast.
    server = createServer((req, res) => {
      if (req.url !== "/admin/metrics/summary") return void res.writeHead(404, { "content-type": "application/json" }).end('{"error":"no route"}');
      polls++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(summary(T0 + polls * 1000, polls * 10, polls * 10)));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("--once --json: one JSON snapshot measured between two polls", async () => {
    const result = await runCli(["status", "--once", "--json", "--url", url, "--admin-token", "t"]);
    assert.equal(result.code, 0, result.stderr);
    const snapshot = JSON.parse(result.stdout) as StatusSnapshot;
    assert.equal(snapshot.requests.perSecond, 10);
    assert.equal(snapshot.tiers.premium!.slo, 1);
  });

  test("off a terminal: one snapshot as tables, no escape sequences", async () => {
    const result = await runCli(["status", "--url", url, "--admin-token", "t"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^hotpath http:\/\/127\.0\.0\.1:\d+ .* 10\.0 req\/s\n\nTIER /);
    assert.doesNotMatch(result.stdout, /\x1b/);
  });
});
