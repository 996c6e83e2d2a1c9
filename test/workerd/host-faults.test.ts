/**
 * Faults below the router, made real in workerd: a ModelHost whose RPC rejects because the object
 * is reset while the request is queued there, one that answers 500 (its own bug), and KV reads
 * that throw. What this protects: such failures say nothing about the request, so the tenant gets
 * a 200 from another replica or a 503 with Retry-After to back off on, never a bare 500 (nor a
 * 401/404 that is not true); and a replica that failed gets no new requests for a short cool-down.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../router/index.ts";
import { call, createTenant, fixtureBytes, uploadModel } from "./helpers.ts";
import { loadFixture } from "./fixtures.ts";
import { expectRefusal, freshName } from "./refusals.ts";
import { answer500, resetReplica } from "./host-fault-injection.ts";

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

const resetReplicaZero = () => resetReplica("mlp-fault", 0);

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
    // Held up to the 1 s batch window, so its deadline leaves room past it on a busy machine.
    const warm = await send("/v2/models/mlp-fault/infer", premium, body, env, { "x-hotpath-timeout-ms": "3000" });
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

/** The replica an answer names, from `x-served-by: edge:<region>/<replica>`. */
const replicaOf = (response: Response): number | undefined => {
  const replica = /^edge:[^/]+\/(\d+)$/.exec(response.headers.get("x-served-by") ?? "")?.[1];
  return replica === undefined ? undefined : Number(replica);
};

describe("a ModelHost that answers 500 (its own bug, not a refusal)", () => {
  it("is a host fault: retried on another replica, which then takes every new request for the cool-down", async () => {
    const model = freshName("mlp-500");
    const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=64&min_replicas=2&max_replicas=2");
    expect(upload.status, await upload.clone().text()).toBe(201);
    const body = JSON.stringify({ inputs });
    const broken = answer500(model, [0]);
    try {
      // The router picks between the two replicas at random (and prefers one it has no report
      // of), so within a few requests one lands on replica 0.
      let hit: Response | undefined;
      for (let k = 0; k < 40 && !hit; k++) {
        const response = await send(`/v2/models/${model}/infer`, premium, body);
        if (broken.calls > 0) hit = response;
        else expect([response.status, replicaOf(response)], await response.text()).toEqual([200, 1]);
      }
      expect(hit, "a request reached replica 0").toBeDefined();
      expect(hit!.status, await hit!.clone().text()).toBe(200);
      expect(replicaOf(hit!)).toBe(1);
      expect(hit!.headers.get("server-timing")).toMatch(/retry;desc="enam\/0 failed"/);

      // The cool-down (seconds; these take milliseconds): nothing new is sent to replica 0.
      for (let k = 0; k < 10; k++) {
        const response = await send(`/v2/models/${model}/infer`, premium, body);
        expect([response.status, replicaOf(response)], await response.clone().text()).toEqual([200, 1]);
        expect(response.headers.get("server-timing")).not.toMatch(/retry/);
      }
      expect(broken.calls, "replica 0 got no request after it failed").toBe(1);
    } finally {
      broken.restore();
    }
  });

  it("with no other replica in time, or failing too: 503 with Retry-After, never 500", async () => {
    const model = freshName("mlp-500-all");
    const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=64");
    expect(upload.status, await upload.clone().text()).toBe(201);
    const broken = answer500(model, [0, 1]);
    try {
      const response = await send(`/v2/models/${model}/infer`, premium, JSON.stringify({ inputs }));
      expect(await expectRefusal(response, 503)).toMatch(/model host is unavailable/);
      expect(broken.calls, "tried once more on another replica").toBe(2);
    } finally {
      broken.restore();
    }
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
