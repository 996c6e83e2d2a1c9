/**
 * @module The origins as the Alerts object sees them: it asks each origin in ORIGINS
 * `GET /v2/health/ready` at every evaluation that has an `origin_down` rule, on its own (the
 * routers' health checks live in each router isolate's memory, out of its reach), and remembers
 * since when each has been failing. An origin is down from its first failed check to its next
 * passed one.
 */

import { parseOrigins, type OriginEndpoint } from "../../protocol/origins-var.ts";

const CHECK_TIMEOUT_MS = 2_000;

/**
 * The ORIGINS var as the routers read it; none when it is malformed, which the routers answer
 * with a 500 on every request that needs an origin, and the Alerts object must not work around:
 * an origin on plain http off loopback would be sent the ORIGIN_TOKEN in clear.
 */
function originsOf(raw: string | undefined): OriginEndpoint[] {
  try {
    return parseOrigins(raw ?? "[]");
  } catch (error) {
    console.error(`origin_down checks skipped: ${error instanceof Error ? error.message : String(error)}`);
    return [];
  }
}

export function createOriginTable(sql: SqlStorage): void {
  sql.exec(`CREATE TABLE IF NOT EXISTS origins (id TEXT PRIMARY KEY, down_since INTEGER)`);
}

/** Checks every origin now and returns, per origin id, the milliseconds it has been down (0 when up). */
export async function checkOrigins(sql: SqlStorage, env: Pick<Env, "ORIGINS" | "ORIGIN_TOKEN">, now: number): Promise<Map<string, number>> {
  const origins = originsOf(env.ORIGINS);
  const ready = await Promise.all(
    origins.map(async (origin) => {
      try {
        const response = await fetch(`${origin.url}/v2/health/ready`, {
          headers: { authorization: `Bearer ${env.ORIGIN_TOKEN}` },
          signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
        });
        await response.body?.cancel();
        return response.status === 200;
      } catch {
        return false;
      }
    }),
  );
  const downFor = new Map<string, number>();
  origins.forEach((origin, k) => {
    const held = sql.exec<{ down_since: number | null }>(`SELECT down_since FROM origins WHERE id = ?`, origin.id).toArray()[0]?.down_since ?? null;
    const downSince = ready[k] ? null : (held ?? now);
    sql.exec(`INSERT INTO origins (id, down_since) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET down_since = excluded.down_since`, origin.id, downSince);
    downFor.set(origin.id, downSince === null ? 0 : now - downSince);
  });
  sql.exec(`DELETE FROM origins WHERE id NOT IN (SELECT value FROM json_each(?))`, JSON.stringify(origins.map((o) => o.id)));
  return downFor;
}
