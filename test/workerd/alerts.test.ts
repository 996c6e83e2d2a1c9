/**
 * @module Alert rules through the real Worker, ModelHosts, Metrics and Alerts objects: the admin
 * API validates rules (400 with what was wrong); an `error_rate` and an `slo` rule driven by real
 * traffic (a 503 the host refuses, then 200s) fire once and resolve once, each evaluation run by
 * the Alerts object's own alarm (runDurableObjectAlarm); a firing rule replaced with other
 * settings or deleted sends its `resolved` (one put again unchanged goes on firing); a receiver
 * that fails is tried again at the next evaluations, its notices in order.
 *
 * The receiver: workerd cannot listen on a port, and the Alerts object runs in this test's
 * isolate, so its webhook fetch to https://alerts-receiver.test is answered here (a spy on the
 * global fetch, as fault-spill.test.ts answers for an origin).
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { ALERTS_NAME, type AlertNotice, type AlertView } from "../../durable-objects/alerts/contract.ts";
import { applyToStore, flushNow } from "../../router/metrics/flush.ts";
import { ADMIN, call, createTenant } from "./helpers.ts";
import { freshName } from "./refusals.ts";
import { slowModel, type SlowModel } from "./slow-model.ts";

const RECEIVER = "https://alerts-receiver.test";
/** Notices the receiver took, and how many more deliveries it should refuse (503). */
let received: AlertNotice[];
let refuseNext: number;

beforeEach(() => {
  received = [];
  refuseNext = 0;
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(`${RECEIVER}/`)) return realFetch(input, init);
    if (refuseNext > 0) {
      refuseNext--;
      return new Response("busy", { status: 503 });
    }
    received.push((await request.json()) as AlertNotice);
    return new Response(null, { status: 204 });
  });
});

afterEach(() => vi.restoreAllMocks());

function putAlert(name: string, body: unknown): Promise<Response> {
  return call(`/admin/alerts/${name}`, { method: "PUT", key: ADMIN, body: JSON.stringify(body), headers: { "content-type": "application/json" } });
}

/** Sends this isolate's counts to the Metrics object, then runs one evaluation. */
async function evaluate(): Promise<void> {
  await flushNow(applyToStore(env));
  expect(await runDurableObjectAlarm(env.ALERTS.getByName(ALERTS_NAME)), "the Alerts object has its alarm set").toBe(true);
}

describe("alert rules", () => {
  it("are validated: kind, webhook, threshold, window and fields; 404 for an unknown name; admin only", async () => {
    const webhook = `${RECEIVER}/hook`;
    const bad: [unknown, RegExp][] = [
      [{ kind: "latency", webhook }, /kind must be one of slo, error_rate, origin_down/],
      [{ kind: "error_rate", threshold: 0.1, window_seconds: 60 }, /webhook must be a URL/],
      [{ kind: "error_rate", threshold: 0.1, window_seconds: 60, webhook: "http://hooks.example.com/x" }, /http:\/\/ only on loopback/],
      [{ kind: "error_rate", threshold: 0.1, window_seconds: 60, webhook: "ftp://127.0.0.1/x" }, /webhook must be https:\/\//],
      [{ kind: "error_rate", threshold: 1, window_seconds: 60, webhook }, /threshold must be a share from 0, below 1/],
      [{ kind: "slo", threshold: 0, window_seconds: 60, webhook }, /threshold must be a share above 0, at most 1/],
      [{ kind: "slo", threshold: "0.9", window_seconds: 60, webhook }, /threshold must be a share/],
      [{ kind: "slo", threshold: 0.9, window_seconds: 5, webhook }, /window_seconds must be a whole number from 10 to 3600/],
      [{ kind: "slo", threshold: 0.9, window_seconds: 7200, webhook }, /window_seconds must be a whole number from 10 to 3600/],
      [{ kind: "slo", threshold: 0.9, window_seconds: 60, webhook, tier: "gold" }, /tier must be one of/],
      [{ kind: "slo", threshold: 0.9, window_seconds: 60, webhook, windw: 3 }, /unknown field 'windw' for kind slo/],
      [{ kind: "origin_down", for_seconds: 0, webhook }, /for_seconds must be a whole number from 1/],
      [[1, 2], /the body must be a JSON object/],
    ];
    for (const [body, message] of bad) {
      const response = await putAlert("validated", body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as { error: string }).error, JSON.stringify(body)).toMatch(message);
    }
    expect((await call("/admin/alerts/validated", { method: "PUT", key: ADMIN, body: "{not json" })).status).toBe(400);
    expect((await putAlert("bad name!", { kind: "origin_down", for_seconds: 30, webhook })).status).toBe(400);

    const local = await putAlert("validated", { kind: "origin_down", for_seconds: 30, webhook: "http://127.0.0.1:9/hook" });
    expect(local.status, await local.clone().text()).toBe(201);
    expect((await putAlert("validated", { kind: "slo", threshold: 0.99, window_seconds: 300, webhook })).status).toBe(200);
    const view = (await (await call("/admin/alerts/validated", { key: ADMIN })).json()) as AlertView;
    expect(view).toMatchObject({
      name: "validated",
      rule: { kind: "slo", tier: "premium", threshold: 0.99, window_seconds: 300, min_requests: 1 },
      state: { firing: false },
    });
    expect((await call("/admin/alerts/validated", { method: "DELETE", key: ADMIN })).status).toBe(200);
    expect((await call("/admin/alerts/validated", { key: ADMIN })).status).toBe(404);
    expect((await call("/admin/alerts/validated", { method: "DELETE", key: ADMIN })).status).toBe(404);
    expect((await call("/admin/alerts")).status).toBe(401);
  });

  describe("driven by traffic", () => {
    let premium: string;
    let slow: SlowModel;

    beforeAll(async () => {
      premium = await createTenant(freshName("alerts-premium"), "premium");
      slow = await slowModel("alerts-slow", premium);
    });

    /** A request with half the time its run takes: a 5xx. */
    async function tooShort(): Promise<Response> {
      const response = await slow.infer(premium, Math.max(1, Math.floor(slow.runMs / 2)));
      await response.arrayBuffer();
      return response;
    }

    it("an error_rate and an slo rule fire once when they start holding and resolve once when they stop", async () => {
      const errors = freshName("errors");
      const slo = freshName("slo");
      const scope = { model: slow.name, window_seconds: 600 };
      expect((await putAlert(errors, { kind: "error_rate", threshold: 0.5, webhook: `${RECEIVER}/errors`, ...scope })).status).toBe(201);
      expect((await putAlert(slo, { kind: "slo", tier: "premium", threshold: 0.6, webhook: `${RECEIVER}/slo`, ...scope })).status).toBe(201);
      await evaluate(); // the window's start

      // Two requests given too little time for the run: refused (503) or out of time (504), every answer in the window a 5xx.
      for (let k = 0; k < 2; k++) expect([503, 504]).toContain((await tooShort()).status);
      await evaluate();
      await evaluate(); // still holding: nothing more
      const mine = () => received.filter((n) => n.alert === errors || n.alert === slo);
      expect(mine().map((n) => [n.alert, n.status])).toEqual([
        [errors, "firing"],
        [slo, "firing"],
      ]);
      expect(mine()[0]).toEqual({ alert: errors, status: "firing", value: 1, threshold: 0.5, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      expect(mine()[1]).toMatchObject({ value: 0, threshold: 0.6 });
      const firing = (await (await call(`/admin/alerts/${errors}`, { key: ADMIN })).json()) as AlertView;
      expect(firing.state).toMatchObject({ firing: true, value: 1 });

      // Five 200s: 2 errors in 7 answers is under 0.5; 5 of 7 within the deadline is over 0.6.
      for (let k = 0; k < 5; k++) {
        const answer = await slow.inferOneRow(premium);
        expect(answer.status, await answer.text()).toBe(200);
      }
      await evaluate();
      await evaluate();
      expect(mine().map((n) => [n.alert, n.status])).toEqual([
        [errors, "firing"],
        [slo, "firing"],
        [errors, "resolved"],
        [slo, "resolved"],
      ]);
      expect(mine()[2]!.value).toBeCloseTo(2 / 7);
      expect(mine()[3]!.value).toBeCloseTo(5 / 7);
      for (const name of [errors, slo]) await call(`/admin/alerts/${name}`, { method: "DELETE", key: ADMIN });
    });

    it("a receiver that fails gets the notice at a later evaluation, in order, without holding the evaluation back", async () => {
      const name = freshName("retried");
      // Over what the model's window holds already (2 errors in 7 when the test above ran first): the next 5xx takes it over.
      const rule = { kind: "error_rate", threshold: 0.3, window_seconds: 600, min_requests: 1, model: slow.name, webhook: `${RECEIVER}/retried` };
      expect((await putAlert(name, rule)).status).toBe(201);
      await evaluate();
      expect(received.filter((n) => n.alert === name)).toEqual([]);
      expect([503, 504]).toContain((await tooShort()).status);
      refuseNext = 2;
      await evaluate(); // fires; the receiver refuses
      expect(received.filter((n) => n.alert === name)).toEqual([]);
      const state = (await (await call(`/admin/alerts/${name}`, { key: ADMIN })).json()) as AlertView;
      expect(state.state.firing, "the evaluation stands whatever the receiver said").toBe(true);
      await evaluate(); // refused again
      await evaluate(); // taken
      expect(received.filter((n) => n.alert === name).map((n) => n.status)).toEqual(["firing"]);
      await call(`/admin/alerts/${name}`, { method: "DELETE", key: ADMIN });
    });

    it("a firing rule put again unchanged keeps firing; replaced by other settings, or deleted, it sends its resolved", async () => {
      const name = freshName("replaced");
      const deleted = freshName("deleted");
      const rule = { kind: "error_rate", threshold: 0.01, window_seconds: 600, min_requests: 1, model: slow.name, webhook: `${RECEIVER}/replaced` };
      const notices = (alert: string) => received.filter((n) => n.alert === alert).map((n) => [n.status, n.threshold]);
      const state = async (alert: string) => ((await (await call(`/admin/alerts/${alert}`, { key: ADMIN })).json()) as AlertView).state;
      expect((await putAlert(name, rule)).status).toBe(201);
      expect((await putAlert(deleted, rule)).status).toBe(201);
      await evaluate();
      expect([503, 504]).toContain((await tooShort()).status);
      await evaluate();
      expect(notices(name)).toEqual([["firing", 0.01]]);
      expect(notices(deleted)).toEqual([["firing", 0.01]]);

      // The same settings, fields in another order: nothing changed, it goes on firing with no new notice.
      const { webhook, ...settings } = rule;
      expect((await putAlert(name, { webhook, ...settings })).status).toBe(200);
      expect(await state(name)).toMatchObject({ firing: true });
      await evaluate();
      expect(notices(name)).toEqual([["firing", 0.01]]);

      // Other settings measure something else: the old firing resolves, the new rule starts afresh (and does not hold).
      expect((await putAlert(name, { ...rule, min_requests: 100_000 })).status).toBe(200);
      expect(await state(name)).toMatchObject({ firing: false });
      expect((await call(`/admin/alerts/${deleted}`, { method: "DELETE", key: ADMIN })).status).toBe(200);
      await evaluate();
      await evaluate();
      expect(notices(name)).toEqual([
        ["firing", 0.01],
        ["resolved", 0.01],
      ]);
      expect(notices(deleted)).toEqual([
        ["firing", 0.01],
        ["resolved", 0.01],
      ]);
      expect(received.find((n) => n.alert === name && n.status === "resolved")!.value).toBeGreaterThan(0.01);
      await call(`/admin/alerts/${name}`, { method: "DELETE", key: ADMIN });
    });
  });
});
