/**
 * @module What one tenant's key can learn and cost, through the real Worker: no model enumeration
 * (403 for a name the key may not use, whether the model exists or not, on metadata and
 * inference), the tier's rate on metadata routes too and before any catalog I/O (429 with
 * Retry-After), and malformed keys (401) and names (400) refused before any KV read, registry
 * call or cache entry. Requests go to the Worker module imported here with bindings that count
 * their calls, so "no I/O" is observed, not inferred from timing.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import worker from "../../router/index.ts";
import { catalogCacheSizes } from "../../router/catalog.ts";
import { keyCacheSizes } from "../../router/tenants/store.ts";
import { createTenant, ensureDemoModel } from "./helpers.ts";
import { loadFixture } from "./fixtures.ts";
import { expectRefusal, freshName } from "./refusals.ts";

/** Calls made to each counted binding since the last `reset`. */
const calls = { KEYS: 0, CATALOG: 0, MODEL_REGISTRY: 0 };
const reset = () => Object.assign(calls, { KEYS: 0, CATALOG: 0, MODEL_REGISTRY: 0 });

/** The binding with every method call counted under `name`, and passed on. */
function counted<T extends object>(name: keyof typeof calls, binding: T): T {
  return new Proxy(binding, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls[name] += 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

const countedEnv: Env = {
  ...env,
  KEYS: counted("KEYS", env.KEYS),
  CATALOG: counted("CATALOG", env.CATALOG),
  MODEL_REGISTRY: counted("MODEL_REGISTRY", env.MODEL_REGISTRY),
};

function send(path: string, key: string | undefined, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (key !== undefined) headers.set("authorization", `Bearer ${key}`);
  return Promise.resolve(worker.fetch(new Request(`http://hotpath.test${path}`, { ...init, headers }), countedEnv, createExecutionContext()));
}

const metadataPaths = (model: string) => [
  `/v2/models/${model}`,
  `/v2/models/${model}/versions/1`,
  `/v2/models/${model}/ready`,
  `/v2/models/${model}/versions/1/ready`,
];
const inferPaths = (model: string) => [`/v2/models/${model}/infer`, `/v2/models/${model}/versions/1/infer`];

let inferBody: string;

beforeAll(async () => {
  await ensureDemoModel("mlp-tiny");
  await ensureDemoModel("silero-vad");
  inferBody = JSON.stringify({ inputs: (await loadFixture("mlp-tiny")).inputs });
});

async function errorOf(response: Response, status: number): Promise<string> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  return (JSON.parse(text) as { error: string }).error;
}

describe("no model enumeration", () => {
  it("a key limited to one model gets the same 403 for an existing other model and a made-up name, on metadata and infer, without a catalog read", async () => {
    const key = await createTenant(freshName("only-mlp"), "standard", ["mlp-tiny"]);
    for (const path of metadataPaths("mlp-tiny").slice(0, 3)) expect((await send(path, key)).status, path).toBe(200);
    for (const other of ["silero-vad", freshName("no-such-model")]) {
      for (const path of metadataPaths(other)) {
        reset();
        expect(await errorOf(await send(path, key), 403), path).toBe(`this key may not use model '${other}'`);
        expect({ catalog: calls.CATALOG, registry: calls.MODEL_REGISTRY }, path).toEqual({ catalog: 0, registry: 0 });
      }
      for (const path of inferPaths(other)) {
        reset();
        const response = await send(path, key, { method: "POST", body: inferBody, headers: { "content-type": "application/json" } });
        expect(await errorOf(response, 403), path).toBe(`this key may not use model '${other}'`);
        expect({ catalog: calls.CATALOG, registry: calls.MODEL_REGISTRY }, path).toEqual({ catalog: 0, registry: 0 });
      }
    }
  });
});

describe("rate limits on every tenant route", () => {
  it("metadata requests over the tier's rate get 429 with Retry-After, and then no catalog or registry I/O, on metadata and infer", async () => {
    const key = await createTenant(freshName("meta-free"), "free", ["*"]);
    const { burst, ratePerSecond } = TIERS.free;
    // One after another until three refusals (the bucket refills meanwhile, as in scheduling.test.ts).
    const statuses: number[] = [];
    while (statuses.filter((s) => s === 429).length < 3) {
      expect(statuses.length, `never limited: ${statuses.join(",")}`).toBeLessThan(10 * burst);
      const response = await send("/v2/models/mlp-tiny", key);
      statuses.push(response.status);
      if (response.status === 429) expect(await expectRefusal(response, 429)).toBe(`rate limit of ${ratePerSecond} requests/s exceeded`);
      else expect(response.status, await response.text()).toBe(200);
    }
    expect(statuses.slice(0, burst)).toEqual(Array(burst).fill(200));

    // Still over the rate: made-up names are refused by the rate limit, not looked up.
    reset();
    const unknown = freshName("never-looked-up");
    await expectRefusal(await send(`/v2/models/${unknown}`, key), 429);
    await expectRefusal(await send(`/v2/models/${unknown}/infer`, key, { method: "POST", body: inferBody }), 429);
    expect({ catalog: calls.CATALOG, registry: calls.MODEL_REGISTRY }).toEqual({ catalog: 0, registry: 0 });
  });
});

describe("malformed keys and names cost no I/O", () => {
  it("a malformed key is 401 without a KV read or a key cache entry, on tenant and admin routes", async () => {
    const malformed = ["hp_not-a-real-key", "garbage", `hp_${"A".repeat(42)}!`, `hp_${"A".repeat(44)}`, `xx_${"A".repeat(43)}`, "hp_" + "A".repeat(10_000)];
    const before = keyCacheSizes();
    reset();
    for (const key of malformed) {
      expect(await errorOf(await send("/v2/models/mlp-tiny", key), 401), key.slice(0, 20)).toMatch(/unknown API key/);
      expect(await errorOf(await send("/v2/models/mlp-tiny/infer", key, { method: "POST", body: inferBody }), 401)).toMatch(/unknown API key/);
      expect(await errorOf(await send("/admin/models", key), 401)).toBe("invalid admin token");
    }
    expect(calls.KEYS).toBe(0);
    expect(keyCacheSizes()).toEqual(before);
  });

  it("a well-formed unknown key is read once and its miss cached", async () => {
    const unknown = `hp_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replace(/=+$/, "")}`;
    const before = keyCacheSizes();
    reset();
    expect(await errorOf(await send("/v2/models/mlp-tiny", unknown), 401)).toBe("unknown API key");
    expect(calls.KEYS).toBe(1);
    expect(keyCacheSizes().missing).toBe(before.missing + 1);
    expect(await errorOf(await send("/v2/models/mlp-tiny", unknown), 401)).toBe("unknown API key");
    expect(calls.KEYS).toBe(1);
  });

  it("a model name or version no model can have is 400 before the key, the catalog or the registry is read", async () => {
    // A key this isolate has not seen yet, so a KEYS read would show.
    const key = await createTenant(freshName("bad-names"), "standard", ["*"]);
    const long = "m".repeat(65);
    const bad = [
      ["GET", `/v2/models/${long}`, /^model name 'm{64}\.\.\.' must match/],
      ["GET", "/v2/models/-lead", /^model name '-lead' must match/],
      ["GET", "/v2/models/bad%20name/ready", /^model name 'bad name' must match/],
      ["GET", "/v2/models/mlp-tiny/versions/1%20beta", /^version '1 beta' must match/],
      ["GET", "/v2/models/mlp-tiny/versions/.1/ready", /^version '\.1' must match/],
      ["POST", `/v2/models/${long}/infer`, /^model name 'm{64}\.\.\.' must match/],
      ["POST", "/v2/models/mlp-tiny/versions/_x/infer", /^version '_x' must match/],
    ] as const;
    const cached = catalogCacheSizes();
    reset();
    for (const [method, path, message] of bad) {
      const response = await send(path, key, method === "POST" ? { method, body: inferBody } : {});
      expect(await errorOf(response, 400), path).toMatch(message);
    }
    expect(calls).toEqual({ KEYS: 0, CATALOG: 0, MODEL_REGISTRY: 0 });
    expect(catalogCacheSizes()).toEqual(cached);
    // The key itself is fine: a good name with it is served.
    expect((await send("/v2/models/mlp-tiny", key)).status).toBe(200);
  });
});
