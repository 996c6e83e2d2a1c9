/**
 * @module The Alerts object's parts that face the outside, run inside a real Alerts object with
 * its SQL storage. Its own origin checks read ORIGINS as the routers do: an origin on plain http
 * off loopback, which the routers refuse because the ORIGIN_TOKEN would travel in clear, is never
 * asked (and so never sent the token), the var's error is logged; a loopback origin is asked with
 * the token. Its outbox keeps a rule's notice being tried and its newest only, while the receiver
 * is down, and a dropped notice is logged with the webhook's origin, not its secret path.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createOutbox, deliver, enqueue, MAX_ATTEMPTS } from "../../durable-objects/alerts/deliveries.ts";
import { checkOrigins, createOriginTable } from "../../durable-objects/alerts/origin-watch.ts";

afterEach(() => vi.restoreAllMocks());

describe("origin_down checks", () => {
  it("send the token to no origin the routers refuse, and to a loopback one", async () => {
    const asked: [string, string | null][] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      asked.push([String(input), new Headers(init?.headers).get("authorization")]);
      return new Response("ready");
    });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const stub = env.ALERTS.get(env.ALERTS.idFromName("origin-watch-test"));
    await runInDurableObject(stub, async (_instance, state) => {
      const sql = state.storage.sql;
      createOriginTable(sql);
      const refused = JSON.stringify([
        { id: "ok", url: "https://gpu-0.example.com" },
        { id: "clear", url: "http://gpu-1.example.com:8788" },
      ]);
      expect((await checkOrigins(sql, { ORIGINS: refused, ORIGIN_TOKEN: "origin-secret" }, 0)).size).toBe(0);
      expect(asked).toEqual([]);
      expect(String(logged.mock.calls[0]?.[0])).toMatch(/^origin_down checks skipped: ORIGINS\[1\] \(clear\): http:\/\/ is allowed only on loopback/);
      const local = JSON.stringify([{ id: "local", url: "http://127.0.0.1:9" }]);
      expect([...(await checkOrigins(sql, { ORIGINS: local, ORIGIN_TOKEN: "origin-secret" }, 0)).entries()]).toEqual([["local", 0]]);
      expect(asked).toEqual([["http://127.0.0.1:9/v2/health/ready", "Bearer origin-secret"]]);
    });
  });
});

describe("the outbox", () => {
  it("keeps a rule's notice being tried and its newest while the receiver is down, and logs a dropped one without the webhook's path", async () => {
    const posted: string[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (_input, init) => {
      posted.push(String(init?.body));
      return new Response("down", { status: 503 });
    });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const webhook = "https://hooks.example.com/services/T000/B000/secret-path";
    const stub = env.ALERTS.get(env.ALERTS.idFromName("outbox-test"));
    await runInDurableObject(stub, async (_instance, state) => {
      const sql = state.storage.sql;
      createOutbox(sql);
      const notice = (k: number) =>
        ({ alert: "flapping", status: k % 2 === 0 ? "firing" : "resolved", value: k, threshold: 1, at: new Date(k).toISOString() }) as const;
      enqueue(sql, webhook, notice(0));
      await deliver(sql); // the head is tried once, and fails
      for (let k = 1; k <= 6; k++) enqueue(sql, webhook, notice(k));
      enqueue(sql, webhook, { ...notice(1), alert: "other" });
      const pending = sql.exec<{ alert: string; notice: string }>(`SELECT alert, notice FROM outbox ORDER BY seq`).toArray();
      expect(pending.map((row) => [row.alert, (JSON.parse(row.notice) as { value: number }).value])).toEqual([
        ["flapping", 0],
        ["flapping", 6],
        ["other", 1],
      ]);
      for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) await deliver(sql);
      expect(posted.filter((body) => body.includes('"flapping"')).map((body) => (JSON.parse(body) as { value: number }).value)).toEqual(
        new Array(MAX_ATTEMPTS).fill(0),
      );
      const dropped = logged.mock.calls.map((call) => String(call[0])).find((line) => line.includes("dropped"));
      expect(dropped).toMatch(/^alert notice dropped after 5 attempts to https:\/\/hooks\.example\.com: answered 503/);
      expect(dropped).not.toContain("secret-path");
    });
  });
});
