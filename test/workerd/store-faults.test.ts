/**
 * @module Reads that fail on the admin, metadata and internal routes, through the real Worker:
 * KV (keys and tenants, the catalog), the model registry Durable Object, R2. Each becomes a 503
 * with Retry-After that names the store, never a bare 500 (and never a 404 that is not true);
 * a ModelHost that cannot report its state leaves the admin's model view standing, marked.
 * (Key reads on the tenant routes: host-faults.test.ts.)
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../router/index.ts";
import { ADMIN, createTenant, fixtureBytes, uploadModel } from "./helpers.ts";
import { expectRefusal, freshName } from "./refusals.ts";

const outage = () => Promise.reject(new Error("internal error; reference = 0123456789abcdef"));

/** `binding` with the named methods failing, as an outage of KV or R2 does. */
function failing<T extends object>(binding: T, methods: string[]): T {
  return new Proxy(binding, {
    get(target, prop) {
      if (typeof prop === "string" && methods.includes(prop)) return outage;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A Durable Object namespace whose every stub's every call rejects, as a reset or overloaded object's do. */
function failingObjects<T extends object>(namespace: T): T {
  const brokenStub = new Proxy({}, { get: () => outage });
  return new Proxy(namespace, {
    get(target, prop) {
      if (prop === "get" || prop === "getByName") return () => brokenStub;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function send(path: string, bindings: Partial<Env>, init: { method?: string; token?: string; body?: BodyInit; headers?: Record<string, string> } = {}) {
  const request = new Request(`http://hotpath.test${path}`, {
    method: init.method ?? "GET",
    body: init.body,
    headers: { authorization: `Bearer ${init.token ?? ADMIN}`, ...init.headers },
  });
  return Promise.resolve(worker.fetch(request, { ...env, ...bindings }, createExecutionContext()));
}

let model: string;
let tenant: string;
let premium: string;

beforeAll(async () => {
  model = freshName("store-faults");
  const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"));
  expect(upload.status, await upload.clone().text()).toBe(201);
  tenant = freshName("store-faults");
  premium = await createTenant(tenant, "premium");
});

describe("a model registry that cannot answer: 503 with Retry-After, not 500", () => {
  const broken = { MODEL_REGISTRY: failingObjects(env.MODEL_REGISTRY) };

  it.each([
    ["GET", "/admin/models"],
    ["GET", `/admin/models/{model}`],
    ["POST", "/v2/repository/index"],
  ])("%s %s", async (method, path) => {
    const response = await send(path.replace("{model}", model), broken, { method });
    expect(await expectRefusal(response, 503)).toBe("the model registry is unavailable, try again");
  });

  it("an upload's check for an existing version", async () => {
    const bytes = await fixtureBytes("models/mlp-tiny/1/model.onnx");
    const response = await send(`/admin/models/${freshName("store-faults")}/versions/1`, broken, {
      method: "PUT",
      body: bytes,
      headers: { "content-length": String(bytes.byteLength) },
    });
    expect(await expectRefusal(response, 503)).toMatch(/the model registry is unavailable/);
  });

  it("an origin's read of a version record", async () => {
    const response = await send(`/internal/models/${model}/versions/1`, broken, { token: env.ORIGIN_TOKEN });
    expect(await expectRefusal(response, 503)).toMatch(/the model registry is unavailable/);
  });

  it("model metadata, when KV does not know the model and the registry is asked", async () => {
    const response = await send(`/v2/models/${freshName("store-faults-new")}`, { ...broken, CATALOG: failing(env.CATALOG, []) }, { token: premium });
    expect(await expectRefusal(response, 503)).toMatch(/the model registry is unavailable/);
  });
});

describe("KV and R2 reads that throw: 503 with Retry-After, not 500", () => {
  it("model metadata and readiness, when the catalog fails", async () => {
    for (const path of [`/v2/models/${freshName("store-faults-meta")}`, `/v2/models/${freshName("store-faults-ready")}/ready`]) {
      const response = await send(path, { CATALOG: failing(env.CATALOG, ["get"]) }, { token: premium });
      expect(await expectRefusal(response, 503)).toBe("the model catalog is unavailable, try again");
    }
  });

  it.each([
    ["GET", `/admin/tenants/{tenant}`, ["get"]],
    ["GET", `/admin/tenants/{tenant}`, ["list"]],
    ["PUT", `/admin/tenants/{tenant}`, ["get"]],
    ["POST", `/admin/tenants/{tenant}/keys`, ["get"]],
    ["DELETE", `/admin/tenants/{tenant}/keys/some-key`, ["get"]],
  ])("%s %s with the key store's %j failing", async (method, path, methods) => {
    const body = method === "PUT" ? JSON.stringify({ tier: "premium", models: ["*"] }) : undefined;
    const response = await send(path.replace("{tenant}", tenant), { KEYS: failing(env.KEYS, methods) }, { method, body });
    expect(await expectRefusal(response, 503)).toBe("the key store is unavailable, try again");
  });

  it("an origin's read of a version's bytes", async () => {
    const response = await send(`/internal/models/${model}/versions/1/bytes`, { MODELS: failing(env.MODELS, ["get"]) }, { token: env.ORIGIN_TOKEN });
    expect(await expectRefusal(response, 503)).toBe("the model store is unavailable, try again");
  });
});

describe("a ModelHost that cannot report its state", () => {
  it("the admin's model view still answers, with the host marked", async () => {
    const response = await send(`/admin/models/${model}`, { MODEL_HOST: failingObjects(env.MODEL_HOST) });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    const view = JSON.parse(text) as { name: string; hosts: { host: string; error?: string }[] };
    expect(view.name).toBe(model);
    expect(view.hosts).toEqual([{ host: `enam:${model}:0`, error: "the model host did not answer, try again" }]);
  });
});
