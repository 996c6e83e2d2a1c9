/**
 * @module The origins as the Alerts object sees them: it asks each origin in ORIGINS
 * `GET /v2/health/ready` at every evaluation that has an `origin_down` rule, on its own (the
 * routers' health checks live in each router isolate's memory, out of its reach), and remembers
 * since when each has been failing. An origin is down from its first failed check to its next
 * passed one.
 */

const CHECK_TIMEOUT_MS = 2_000;

interface OriginEntry {
  id: string;
  url: string;
}

/** The ORIGINS var's entries that are well formed; the router refuses a bad var on its own (router/origin-pool/pool.ts). */
function originsOf(raw: string | undefined): OriginEntry[] {
  try {
    const parsed: unknown = JSON.parse(raw ?? "[]");
    if (!Array.isArray(parsed)) return [];
    return parsed.flatMap((entry: Record<string, unknown> | null) =>
      typeof entry?.id === "string" && typeof entry.url === "string" && /^https?:\/\//.test(entry.url)
        ? [{ id: entry.id, url: entry.url.replace(/\/+$/, "") }]
        : [],
    );
  } catch {
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
