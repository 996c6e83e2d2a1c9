/**
 * @module The gauges a scrape asks for when it is made, since they are states, not counts:
 * the ModelHosts that answered requests recently (queue, warm sessions, memory; one RPC each,
 * all at once, each given a second), each origin as this isolate's pool sees it (checked first
 * when its last check is older than the checks' own period), and the live streams of the
 * tenants that opened any recently (their StreamSlots).
 *
 * The hosts asked are bounded (METRICS_MAX_HOSTS_PER_SCRAPE, the most recently seen first; the
 * Metrics object picks them, scrapeHostLimit): a platform with thousands of replicas would
 * otherwise make every scrape and every dashboard poll thousands of calls. The hosts left out
 * are a count, `hotpath_hosts_not_scraped`, so a partial view never passes for a whole one.
 */
import { TIERS } from "../../config/tiers.ts";
import { positiveVar, VAR_DEFAULTS } from "../../config/vars.ts";
import type { HostState } from "../../durable-objects/model-host/contract.ts";
import type { MetricsTotals } from "../../durable-objects/metrics/contract.ts";
import { CHECK_EVERY_MS, checkOriginsNow } from "../origin-pool/health-check.ts";
import { originPool, usable } from "../origin-pool/pool.ts";
import type { GaugeSample } from "./exposition.ts";

/** How long a scrape waits for a host's state: a host busy with a long run answers after it, and the scrape must not hang on it. */
const HOST_STATE_TIMEOUT_MS = 1_000;

/** The most hosts one scrape asks for their gauges: the `maxHosts` to read the totals with (Metrics.totals). */
export function scrapeHostLimit(env: Pick<Env, "METRICS_MAX_HOSTS_PER_SCRAPE">): number {
  return positiveVar("METRICS_MAX_HOSTS_PER_SCRAPE", env.METRICS_MAX_HOSTS_PER_SCRAPE, VAR_DEFAULTS.METRICS_MAX_HOSTS_PER_SCRAPE, { integer: true });
}

export async function liveGauges(env: Env, totals: MetricsTotals): Promise<GaugeSample[]> {
  // The totals hold at most the limit already; cut here too, so the bound holds whatever the object answered.
  const asked = totals.hosts.slice(0, scrapeHostLimit(env));
  const notScraped: GaugeSample = { family: "hostsNotScraped", labels: {}, value: Math.max(0, (totals.hostsSeen ?? totals.hosts.length) - asked.length) };
  const [hosts, origins, streams] = await Promise.all([hostGauges(env, asked), originGauges(env), streamGauges(env, totals.streamTenants)]);
  return [...hosts, notScraped, ...origins, ...streams];
}

async function hostGauges(env: Env, names: string[]): Promise<GaugeSample[]> {
  const states = await Promise.all(names.map((name) => hostState(env, name)));
  return names.flatMap((name, k): GaugeSample[] => {
    const first = name.indexOf(":");
    const last = name.lastIndexOf(":");
    const labels = { model: name.slice(first + 1, last), region: name.slice(0, first), replica: name.slice(last + 1) };
    const state = states[k];
    if (!state) return [{ family: "hostUp", labels, value: 0 }];
    return [
      { family: "hostUp", labels, value: 1 },
      { family: "queueLength", labels, value: state.load.queued },
      { family: "sessionsLoaded", labels, value: state.sessions.filter((s) => s.ready).length },
      { family: "hostMemory", labels, value: state.memoryEstimateBytes },
    ];
  });
}

async function hostState(env: Env, name: string): Promise<HostState | undefined> {
  const first = name.indexOf(":");
  const stub = env.MODEL_HOST.get(env.MODEL_HOST.idFromName(name), { locationHint: name.slice(0, first) as DurableObjectLocationHint });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), HOST_STATE_TIMEOUT_MS)));
  try {
    return await Promise.race([stub.state() as Promise<HostState>, timeout]);
  } catch (error) {
    console.error(`model host ${name} did not report its state to the metrics scrape`, error);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

async function originGauges(env: Env): Promise<GaugeSample[]> {
  const now = Date.now();
  if (originPool(env).some((o) => now - o.health.checkedAt > CHECK_EVERY_MS)) await checkOriginsNow(env);
  return originPool(env).map((o) => ({ family: "originUp", labels: { origin: o.config.id }, value: usable(o) ? 1 : 0 }));
}

/** Open streams per tier; every tier is listed, 0 when none is open. */
async function streamGauges(env: Env, tenants: Record<string, string>): Promise<GaugeSample[]> {
  const perTier = new Map<string, number>(Object.keys(TIERS).map((tier) => [tier, 0]));
  const counts = await Promise.all(
    Object.keys(tenants).map((tenant) =>
      env.STREAM_SLOTS.getByName(tenant)
        .open()
        .catch(() => 0),
    ),
  );
  Object.values(tenants).forEach((tier, k) => perTier.set(tier, (perTier.get(tier) ?? 0) + counts[k]!));
  return [...perTier].map(([tier, value]) => ({ family: "streamsOpen", labels: { tier }, value }));
}
