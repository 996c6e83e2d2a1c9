/**
 * @module A scrape's fan-out to the ModelHosts is bounded, through the real Worker, Metrics object
 * and ModelHosts: with METRICS_MAX_HOSTS_PER_SCRAPE at 2, `/metrics` and the dashboard summary
 * ask only the two hosts seen most recently, and count every other host seen in the last 15
 * minutes in `hotpath_hosts_not_scraped`; a host that does not answer within its second is
 * reported down (`hotpath_host_up` 0) without holding the scrape back.
 *
 * The hosts are made known to the Metrics object as a router's flush makes them known (a batch
 * naming them); they are real ModelHost objects, which answer the scrape with their state.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { METRICS_NAME } from "../../durable-objects/metrics/contract.ts";
import type { HostState } from "../../durable-objects/model-host/contract.ts";
import { ModelHost } from "../../durable-objects/model-host/model-host.ts";
import worker from "../../router/index.ts";
import type { DashboardSummary } from "../../router/dashboard/summary.ts";
import { ADMIN } from "./helpers.ts";
import { parsePrometheusText, type Sample } from "./prometheus-text.ts";
import { freshName } from "./refusals.ts";

afterEach(() => vi.restoreAllMocks());

/** Makes `hosts` known to the Metrics object, one batch each, in order: the last is the most recently seen. */
async function seen(hosts: string[]): Promise<void> {
  const store = env.METRICS.getByName(METRICS_NAME);
  for (const host of hosts) {
    await store.apply({ id: crypto.randomUUID(), counters: {}, histograms: {}, hosts: [host], streamTenants: {} });
    // Apart in time, so "most recently seen" has one answer.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function get(path: string, maxHosts: string): Promise<Response> {
  const request = new Request(`http://hotpath.test${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return Promise.resolve(worker.fetch(request, { ...env, METRICS_MAX_HOSTS_PER_SCRAPE: maxHosts }, createExecutionContext()));
}

async function scrape(maxHosts: string): Promise<{ up: Sample[]; notScraped: number }> {
  const response = await get("/metrics", maxHosts);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  const families = parsePrometheusText(text);
  const notScraped = families.get("hotpath_hosts_not_scraped")?.samples;
  expect(notScraped, "hotpath_hosts_not_scraped is exposed").toHaveLength(1);
  return { up: families.get("hotpath_host_up")?.samples ?? [], notScraped: notScraped![0]!.value };
}

describe("the hosts a scrape asks for their gauges", () => {
  it("are at most METRICS_MAX_HOSTS_PER_SCRAPE, the most recently seen first; the rest are a count", async () => {
    const model = freshName("fan-out");
    const hosts = [0, 1, 2, 3, 4].map((k) => `enam:${model}-${k}:0`);
    await seen(hosts);

    const all = await scrape("10000");
    expect(all.notScraped).toBe(0);
    const seenInAll = all.up.length;
    expect(seenInAll).toBeGreaterThanOrEqual(hosts.length);

    const bounded = await scrape("2");
    expect(bounded.up.map((s) => s.labels.model)).toEqual(expect.arrayContaining([`${model}-4`, `${model}-3`]));
    expect(bounded.up).toHaveLength(2);
    expect(bounded.up.every((s) => s.value === 1)).toBe(true);
    expect(bounded.notScraped).toBe(seenInAll - 2);

    const summaryResponse = await get("/admin/metrics/summary", "2");
    const summary = (await summaryResponse.json()) as DashboardSummary;
    expect(summaryResponse.status).toBe(200);
    expect(Object.keys(summary.queueLength).sort()).toEqual([`${model}-3 enam/0`, `${model}-4 enam/0`]);
    expect(summary.hostsNotScraped).toBe(seenInAll - 2);
  });

  it("report a host that does not answer within its second as down, without holding the scrape back", async () => {
    const model = freshName("fan-out-stuck");
    const stuck = `enam:${model}:0`;
    await seen([stuck]);
    const real = ModelHost.prototype.state;
    vi.spyOn(ModelHost.prototype, "state").mockImplementation(function (this: ModelHost) {
      const { ctx } = this as unknown as { ctx: DurableObjectState };
      // A host busy with a long run answers after it: here, after the scrape has given up.
      // (A promise where the method returns a value: across RPC the caller awaits either.)
      if (ctx.id.name === stuck) return new Promise((resolve) => setTimeout(() => resolve(real.call(this)), 5_000)) as unknown as HostState;
      return real.call(this);
    });
    const startedAt = Date.now();
    const { up } = await scrape("2");
    expect(Date.now() - startedAt).toBeLessThan(4_000);
    expect(up.find((s) => s.labels.model === model)?.value).toBe(0);
  });
});
