/**
 * @module Scenario `cost`: what one request costs the machine under `wrangler dev`, by outcome,
 * in CPU time of each workerd process (from /proc, Linux only): served, refused by the host (its
 * deadline already gone), refused by the router before the body is read (a key for other models:
 * 403, the same path as a refusal for lack of time there), and refused without a key (401). wrangler dev runs two workerd processes: its proxy,
 * and the one whose single thread runs the router and every Durable Object, so that thread's CPU
 * per request is the budget overload spends; it is what explains the overload figures.
 */
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { PORTS, type Scenario } from "./context.ts";
import { closedLoop, type RequestSpec } from "./load.ts";
import { MODEL, MODEL_FILE, overloadBody, ROWS } from "./overload-config.ts";
import { fixtureFile } from "./stack.ts";
import { ms, table } from "./stats.ts";
import { cpuTicks, TICKS_PER_SECOND, workerdProcesses } from "./workerd-processes.ts";

interface Case {
  name: string;
  concurrency: number;
  next: () => RequestSpec;
}

interface Measured {
  name: string;
  requests: number;
  statuses: Record<string, number>;
  wallMsPerRequest: number;
  /** Process label -> CPU ms per request. */
  cpuMs: Record<string, number>;
}

export const cost: Scenario = async ({ quick, log, signal, startStack }) => {
  const stack = await startStack({ port: PORTS.cost, label: "bench-cost" });
  const processes = workerdProcesses(stack.pid, Number(new URL(stack.url).port));
  if (processes.length === 0) {
    // Not Linux (no /proc): the other scenarios still run.
    log("cost: skipped, no workerd processes found through /proc");
    return {
      name: "cost",
      markdown: "### cost: CPU per request under wrangler dev\n\nSkipped: it reads CPU times from /proc (Linux).",
      data: { skipped: true },
      charts: {},
    };
  }
  log(`cost: workerd processes ${processes.map((p) => `${p.label} (${p.pid})`).join(", ")}`);
  await stack.upload(MODEL, "1", fixtureFile(MODEL_FILE), { maxBatch: ROWS, minReplicas: 1, maxReplicas: 1 });
  const [premium] = await stack.tenants("premium", 1, "cost-premium");
  // A key for other models only: refused by the router before the body is read, like a refusal
  // for lack of time at the router (a rate-limited tenant would let some requests through).
  await stack.admin.putTenant("cost-elsewhere", "premium", ["mlp-tiny"]);
  const elsewhere = (await stack.admin.createKey("cost-elsewhere")).key;
  const body = overloadBody();
  const path = `/v2/models/${MODEL}/infer`;
  const as =
    (key: string | undefined, extra: Record<string, string> = {}) =>
    (): RequestSpec => ({
      path,
      body: body.body,
      headers: { ...body.headers, ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra },
      timeoutMs: 10_000,
    });
  const cases: Case[] = [
    { name: "served (200)", concurrency: 4, next: as(premium!.key) },
    { name: "refused by the host (deadline gone: 504)", concurrency: 8, next: as(premium!.key, { [TIMEOUT_HEADER]: "1" }) },
    { name: "refused by the router, body unread (403: a key for other models)", concurrency: 8, next: as(elsewhere) },
    { name: "no key (401)", concurrency: 8, next: as(undefined) },
  ];
  await closedLoop({ signal, baseUrl: stack.url, concurrency: 4, durationMs: 1_000, next: as(premium!.key) }); // warm
  const results: Measured[] = [];
  for (const c of cases) {
    const before = processes.map((p) => cpuTicks(p.pid));
    const run = await closedLoop({
      signal,
      baseUrl: stack.url,
      concurrency: c.concurrency,
      durationMs: quick ? 1_500 : 4_000,
      maxRequests: 100_000,
      next: c.next,
    });
    const after = processes.map((p) => cpuTicks(p.pid));
    const n = run.outcomes.length;
    const statuses: Record<string, number> = {};
    for (const o of run.outcomes) statuses[String(o.status)] = (statuses[String(o.status)] ?? 0) + 1;
    const cpuMs = Object.fromEntries(processes.map((p, k) => [p.label, ((after[k]! - before[k]!) * 1000) / TICKS_PER_SECOND / Math.max(1, n)]));
    results.push({ name: c.name, requests: n, statuses, wallMsPerRequest: (run.elapsedMs * c.concurrency) / Math.max(1, n), cpuMs });
    log(
      `cost: ${c.name}: ${n} requests ${JSON.stringify(statuses)}, CPU per request ${Object.entries(cpuMs)
        .map(([l, v]) => `${l} ${v.toFixed(2)} ms`)
        .join(", ")}`,
    );
  }
  return report(
    results,
    processes.map((p) => p.label),
    body.body.length,
  );
};

function report(results: Measured[], labels: string[], bodyBytes: number) {
  const rows = results.map((r) => [r.name, String(r.requests), JSON.stringify(r.statuses), ...labels.map((l) => ms(r.cpuMs[l] ?? Number.NaN, 2))]);
  const markdown = [
    `### cost: CPU per request under wrangler dev, by outcome`,
    "",
    `Model \`${MODEL}\` (the overload scenario's), ${ROWS} rows per request (${(bodyBytes / 1024).toFixed(0)} KB binary body), closed loops of 4 (served) or 8 clients. CPU time of each workerd process ` +
      `(user + system, from /proc) divided by the requests of the loop. "worker" is the process whose one thread runs the router and every Durable Object; ` +
      `"proxy" is wrangler's proxy in front of it. The client (Node) runs on the same machine.`,
    "",
    table(["outcome", "requests", "statuses", ...labels.map((l) => `${l} CPU ms per request`)], rows),
  ].join("\n");
  return { name: "cost", markdown, data: { model: MODEL, rows: ROWS, results }, charts: {} };
}
