/** @module The status snapshot as text for people: a heading line, then one aligned table per group; a dash where there is nothing to measure yet. */
import { table, type Cell } from "../output.ts";
import type { CountStatus, StatusSnapshot } from "./snapshot.ts";

const perSecond = (value: number | null): Cell => (value === null ? undefined : value.toFixed(1));
const milliseconds = (seconds: number | null): Cell => (seconds === null ? undefined : `${(seconds * 1000).toFixed(1)} ms`);
const percent = (share: number | null): Cell => (share === null ? undefined : `${(share * 100).toFixed(2)}%`);

function countTable(title: string, values: Record<string, CountStatus>): string {
  const rows = Object.entries(values).map(([key, count]): Cell[] => [key, count.total, perSecond(count.perSecond)]);
  return rows.length === 0 ? `${title}: none` : table([title, "total", "per s"], rows);
}

/** `url` names the server in the heading; `note` (a failed poll, "waiting for a second poll") goes under it. */
export function renderStatus(snapshot: StatusSnapshot, url: string, note?: string): string {
  const heading = `hotpath ${url}  ${snapshot.at}  requests ${snapshot.requests.total}  ${perSecond(snapshot.requests.perSecond) ?? "-"} req/s`;
  const tiers = table(
    ["tier", "req/s", "p50", "p99", "slo", "deadline", "requests", "refused"],
    Object.entries(snapshot.tiers).map(([tier, t]) => [
      tier,
      perSecond(t.perSecond),
      milliseconds(t.p50),
      milliseconds(t.p99),
      percent(t.slo),
      `${t.deadlineSeconds} s`,
      t.requests,
      t.refused,
    ]),
  );
  const replicaRows = Object.entries(snapshot.replicas).map(([replica, r]): Cell[] => [replica, r.queueLength, r.sessionsLoaded]);
  const replicas = replicaRows.length === 0 ? "replicas: none reporting" : table(["replica", "queue", "sessions"], replicaRows);
  const originRows = Object.entries(snapshot.origins).map(([origin, state]): Cell[] => [origin, state === "up" ? "up" : "DOWN"]);
  const origins = originRows.length === 0 ? "origins: none" : table(["origin", "health"], originRows);
  const sections = [heading, ...(note ? [note] : []), tiers, countTable("refusal", snapshot.refusals), countTable("spill", snapshot.spills), replicas, origins];
  return sections.join("\n\n");
}
