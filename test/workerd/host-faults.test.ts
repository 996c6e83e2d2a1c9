/**
 * Faults below the router, made real in workerd: a ModelHost whose RPC rejects because the object
 * is reset while the request is queued there, and KV reads that throw. What this protects: such
 * failures say nothing about the request, so the tenant gets a 200 from another replica or a 503
 * with Retry-After to back off on, never a bare 500 (nor a 401/404 that is not true).
 */
import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../router/index.ts";
import { call, createTenant, fixtureBytes, uploadModel } from "./helpers.ts";
import { loadFixture } from "./fixtures.ts";
import { expectRefusal, freshName } from "./refusals.ts";

let premium: string;
let inputs: unknown;

beforeAll(async () => {
  premium = await createTenant("faults-premium", "premium");
  inputs = (await loadFixture("mlp-tiny")).inputs;
});

function send(path: string, key: string, body: string, bindings: Env = env, headers: Record<string, string> = {}): Promise<Response> {
  const request = new Request(`http://hotpath.test${path}`, {
    method: "POST",
    body,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
  });
  return Promise.resolve(worker.fetch(request, bindings, createExecutionContext()));
}

/** Resets the object of mlp-fault's replica 0 in this region, as the runtime does to a broken one. */
async function resetReplicaZero(): Promise<void> {
  const host = env.MODEL_HOST.get(env.MODEL_HOST.idFromName("enam:mlp-fault:0"));
  await runInDurableObject(host, (_instance, state) => {
    try {
      state.abort("reset by the test");
    } catch {
      // abort() throws in the caller too: the object is gone, which is what the test wants.
    }
  }).catch(() => undefined);
}

describe("a ModelHost that fails under a request", () => {
  it("reset while the request is queued there: answered by another replica, not 500", async () => {
    // mlp-tiny that holds a lone request up to a second to fill a batch, so the request is still
    // queued on replica 0 when the test resets that object.
    const upload = await uploadModel(
      "mlp-fault",
      "1",
      await fixtureBytes("models/mlp-tiny/1/model.onnx"),
      "?max_batch=16&max_queue_delay_microseconds=1000000",
    );
    expect(upload.status, await upload.clone().text()).toBe(201);
    const body = JSON.stringify({ inputs });
    const warm = await send("/v2/models/mlp-fault/infer", premium, body, env, { "x-hotpath-timeout-ms": "1000" });
    expect(warm.status, await warm.clone().text()).toBe(200);
    expect(warm.headers.get("x-served-by")).toBe("edge:enam/0");

    // Time for the reset, a cold load on the other replica and its own batch hold.
    const answer = send("/v2/models/mlp-fault/infer", premium, body, env, { "x-hotpath-timeout-ms": "6000" });
    await new Promise((r) => setTimeout(r, 200));
    await resetReplicaZero();
    const response = await answer;

    expect(response.status, await response.clone().text()).toBe(200);
    expect(response.headers.get("x-served-by")).toBe("edge:enam/1");
    expect(response.headers.get("server-timing")).toMatch(/retry;desc="enam\/0 failed"/);
  });

  it("reset again with no time left for another replica: 503 with Retry-After", async () => {
    const body = JSON.stringify({ inputs });
    // Replica 0 is reset under a request with too little time left to try replica 1.
    const answer = send("/v2/models/mlp-fault/infer", premium, body, env, { "x-hotpath-timeout-ms": "230" });
    await new Promise((r) => setTimeout(r, 215));
    await resetReplicaZero();
    const response = await answer;
    expect([503, 504], await response.clone().text()).toContain(response.status);
    if (response.status === 503) await expectRefusal(response, 503);
  });
});

/** The binding with get() failing as a KV outage does. */
function failingGets<T extends object>(binding: T): T {
  return new Proxy(binding, {
    get(target, prop) {
      if (prop === "get") return () => Promise.reject(new Error("KV GET failed: 500 Internal Server Error"));
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe("KV reads that throw", () => {
  it("the key store: 503 with Retry-After, not 500 or 401", async () => {
    // A key this isolate has not read yet, so authenticating it needs KV.
    const key = await createTenant(freshName("faults-kv"), "premium");
    const response = await send("/v2/models/mlp-fault/infer", key, "{}", { ...env, KEYS: failingGets(env.KEYS) });
    await expectRefusal(response, 503);
  });

  it("the catalog: 503 with Retry-After, not 500 or 404", async () => {
    // Authenticated already (cached), and a name this isolate has not looked up.
    expect((await call("/v2/health/ready")).status).toBeLessThan(500);
    const response = await send(`/v2/models/${freshName("faults-model")}/infer`, premium, "{}", { ...env, CATALOG: failingGets(env.CATALOG) });
    await expectRefusal(response, 503);
  });
});
