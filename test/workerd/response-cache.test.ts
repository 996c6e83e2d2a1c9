/**
 * @module The response cache through the real Worker, ModelHost, registry and the Cache API
 * (`caches.default`): a version uploaded with `cache_ttl_seconds` answers a repeated request from
 * the cache with the same bytes (`x-hotpath-cache: hit`, `x-served-by: cache`, a Server-Timing
 * `cache` entry), whether its inputs came as JSON or binary and whatever its id; a changed input
 * misses; another tenant misses under `tenant` scope and hits under `shared`; a version without
 * the setting is never marked or kept; an error is never kept; a version deleted and uploaded
 * again with other bytes answers with the new bytes, and so does a variant (deleted, it is a 400,
 * never its cached answer); and a stateful model or a malformed setting
 * is refused at upload. Hits and misses reach `/metrics` and the dashboard summary.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import type { DashboardSummary } from "../../router/dashboard/summary.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { parsePrometheusText, sampleSum } from "./prometheus-text.ts";
import { catalogWriteSlotFree } from "./lifecycle.ts";
import { freshName } from "./refusals.ts";

let mlp: Fixture;
let mlpBytes: Uint8Array;
let key: string;

beforeAll(async () => {
  mlp = await loadFixture("mlp-tiny");
  mlpBytes = await fixtureBytes("models/mlp-tiny/1/model.onnx");
  key = await createTenant(freshName("cache-tenant"), "premium");
});

async function uploaded(prefix: string, query: string, bytes = mlpBytes, name = freshName(prefix)): Promise<string> {
  const upload = await uploadModel(name, "1", bytes, query);
  expect(upload.status, await upload.clone().text()).toBe(201);
  return name;
}

/** The fixture's inputs with the first element changed by `delta` (0: as they are). */
const inputs = (delta = 0) => mlp.inputs.map((t, k) => ({ ...t, data: k === 0 ? [t.data[0]! + delta, ...t.data.slice(1)] : t.data }));

async function answer(response: Response): Promise<{ status: number; cache: string | null; text: string; timing: string }> {
  return {
    status: response.status,
    cache: response.headers.get("x-hotpath-cache"),
    text: await response.text(),
    timing: response.headers.get("server-timing") ?? "",
  };
}

const infer = async (model: string, body: unknown = { inputs: inputs() }, as = key) => answer(await inferJson(model, as, body));

describe("response cache", () => {
  it("answers an identical request from the cache with the same body, marked and timed, and counts hits and misses", async () => {
    const model = await uploaded("cache-hit", "?max_batch=64&cache_ttl_seconds=600");
    const first = await inferJson(model, key, { inputs: inputs() });
    const firstText = await first.text();
    expect(first.status, firstText).toBe(200);
    expect(first.headers.get("x-hotpath-cache")).toBe("miss");
    expect(first.headers.get("x-served-by")).toMatch(/^edge:/);
    expect(first.headers.get("server-timing")).toMatch(/(^|,)cache;dur=[0-9.]+;desc="miss"/);

    const second = await inferJson(model, key, { inputs: inputs() });
    const secondText = await second.text();
    expect(second.status, secondText).toBe(200);
    expect(second.headers.get("x-hotpath-cache")).toBe("hit");
    expect(second.headers.get("x-served-by")).toBe("cache");
    expect(second.headers.get("content-type")).toBe(first.headers.get("content-type"));
    expect(second.headers.get("server-timing")).toMatch(/(^|,)cache;dur=[0-9.]+;desc="hit"/);
    // A hit never reaches a host: no queue or infer time.
    expect(second.headers.get("server-timing")).not.toMatch(/(^|,)(queue|infer);/);
    expect(secondText).toBe(firstText);

    const metrics = parsePrometheusText(await (await call("/metrics", { key: ADMIN })).text());
    expect(sampleSum(metrics, "hotpath_cache_requests_total", { model, version: "1", result: "hit" })).toBe(1);
    expect(sampleSum(metrics, "hotpath_cache_requests_total", { model, version: "1", result: "miss" })).toBe(1);
    expect(sampleSum(metrics, "hotpath_requests_total", { model, placement: "cache", status: "200" })).toBe(1);
    const summary = (await (await call("/admin/metrics/summary", { key: ADMIN })).json()) as DashboardSummary;
    expect(summary.cache[model]).toEqual({ hits: 1, misses: 1, hitRatio: 0.5 });
  });

  it("misses on a changed input, on other requested outputs' encoding, and hits the same inputs sent as binary", async () => {
    const model = await uploaded("cache-inputs", "?max_batch=64&cache_ttl_seconds=600");
    const json = await infer(model);
    expect(json).toMatchObject({ status: 200, cache: "miss" });
    expect(await infer(model, { inputs: inputs(0.5) })).toMatchObject({ status: 200, cache: "miss" });
    expect(await infer(model, { inputs: inputs(), parameters: { binary_data_output: true } })).toMatchObject({ status: 200, cache: "miss" });

    const binaryInputs = mlp.inputs.map((t) => ({ name: t.name, datatype: "FP32" as const, shape: t.shape, data: Float32Array.from(t.data) }));
    const encoded = encodeInferRequest({ inputs: binaryInputs }, { binary: true });
    const headers = { "inference-header-content-length": String(encoded.headerLength) };
    const binary = await answer(await call(`/v2/models/${model}/infer`, { method: "POST", key, body: encoded.body, headers }));
    expect(binary).toMatchObject({ status: 200, cache: "hit", text: json.text });
  });

  it("puts each request's own id in a cached answer, in JSON and binary answers alike", async () => {
    const model = await uploaded("cache-id", "?max_batch=64&cache_ttl_seconds=600");
    const plain = await infer(model);
    const withId = await infer(model, { id: "second ✓", inputs: inputs() });
    expect(withId.cache).toBe("hit");
    expect(JSON.parse(withId.text)).toEqual({ ...JSON.parse(plain.text), id: "second ✓" });

    const binaryOut = { inputs: inputs(), parameters: { binary_data_output: true } };
    const first = await inferJson(model, key, { ...binaryOut, id: "a" });
    const firstBytes = new Uint8Array(await first.arrayBuffer());
    const hit = await inferJson(model, key, { ...binaryOut, id: "bb" });
    const hitBytes = new Uint8Array(await hit.arrayBuffer());
    expect([first.headers.get("x-hotpath-cache"), hit.headers.get("x-hotpath-cache")]).toEqual(["miss", "hit"]);
    const firstLength = Number(first.headers.get("inference-header-content-length"));
    expect(Number(hit.headers.get("inference-header-content-length"))).toBe(firstLength + 1);
    const header = (bytes: Uint8Array, length: number) => JSON.parse(new TextDecoder().decode(bytes.subarray(0, length)));
    expect(header(hitBytes, firstLength + 1)).toEqual({ ...header(firstBytes, firstLength), id: "bb" });
    expect(hitBytes.subarray(firstLength + 1)).toEqual(firstBytes.subarray(firstLength));
  });

  it("keeps a tenant's answers to itself under the default scope, and shares them under cache_scope=shared", async () => {
    const other = await createTenant(freshName("cache-other"), "standard");
    const scoped = await uploaded("cache-tenant-scope", "?max_batch=64&cache_ttl_seconds=600");
    const shared = await uploaded("cache-shared", "?max_batch=64&cache_ttl_seconds=600&cache_scope=shared");
    for (const model of [scoped, shared]) expect(await infer(model)).toMatchObject({ status: 200, cache: "miss" });

    expect(await infer(scoped, undefined, other)).toMatchObject({ status: 200, cache: "miss" });
    const sharedHit = await infer(shared, undefined, other);
    expect(sharedHit).toMatchObject({ status: 200, cache: "hit" });
    expect(sharedHit.text).toBe((await infer(shared)).text);

    const record = (await (await call(`/admin/models/${shared}`, { key: ADMIN })).json()) as { versions: { cache?: unknown }[] };
    expect(record.versions[0]!.cache).toEqual({ ttlSeconds: 600, scope: "shared" });
    const metadata = (await (await call(`/v2/models/${scoped}`, { key })).json()) as { parameters: Record<string, unknown> };
    expect(metadata.parameters).toMatchObject({ cache_ttl_seconds: 600, cache_scope: "tenant" });
  });

  it("is off by default: no mark, nothing kept, every request runs", async () => {
    const model = await uploaded("cache-off", "?max_batch=64");
    for (let k = 0; k < 2; k++) {
      const response = await inferJson(model, key, { inputs: inputs() });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-hotpath-cache")).toBeNull();
      expect(response.headers.get("x-served-by")).toMatch(/^edge:/);
      expect(response.headers.get("server-timing")).not.toMatch(/(^|,)cache;/);
      await response.arrayBuffer();
    }
    const record = (await (await call(`/admin/models/${model}`, { key: ADMIN })).json()) as { versions: Record<string, unknown>[] };
    expect(record.versions[0]).not.toHaveProperty("cache");
  });

  it("never keeps an error: a request refused for its deadline leaves the next one a miss", async () => {
    const model = await uploaded("cache-error", "?max_batch=64&cache_ttl_seconds=600");
    // A deadline that has passed by the time the host is asked: the answer is an error after the lookup missed.
    const late = await answer(
      await call(`/v2/models/${model}/infer`, { method: "POST", key, body: JSON.stringify({ inputs: inputs(), parameters: { timeout: 1 } }) }),
    );
    expect([503, 504], late.text).toContain(late.status);
    expect(JSON.parse(late.text)).toHaveProperty("error");
    expect(late.cache).toBeNull();
    expect(late.timing, "the lookup ran and missed before the error").toMatch(/(^|,)cache;dur=[0-9.]+;desc="miss"/);
    expect(await infer(model)).toMatchObject({ status: 200, cache: "miss" });
    expect(await infer(model)).toMatchObject({ status: 200, cache: "hit" });
  });

  it("after delete and upload of other bytes under the same version, answers with the new bytes", async () => {
    const model = await uploaded("cache-reupload", "?max_batch=64&cache_ttl_seconds=600");
    const old = await infer(model);
    expect(await infer(model)).toMatchObject({ cache: "hit", text: old.text });
    const deleted = await call(`/admin/models/${model}/versions/1?force=true`, { method: "DELETE", key: ADMIN });
    expect(deleted.status, await deleted.text()).toBe(200);
    await uploaded("unused", "?max_batch=64&cache_ttl_seconds=600", await fixtureBytes("fixtures/mlp-tiny-v2.onnx"), model);
    const fresh = await infer(model);
    expect(fresh).toMatchObject({ status: 200, cache: "miss" });
    expect(fresh.text).not.toBe(old.text);
    expect(await infer(model)).toMatchObject({ cache: "hit", text: fresh.text });
  });

  it("a pinned variant deleted is the 400 serving gives, not its cached answer; uploaded again with other bytes, a miss", async () => {
    const model = await uploaded("cache-variant", "?max_batch=64&cache_ttl_seconds=600");
    const putVariant = async (path: string) => {
      const bytes = await fixtureBytes(path);
      await catalogWriteSlotFree(model);
      const headers = { "content-length": String(bytes.byteLength), "content-type": "application/octet-stream" };
      const put = await call(`/admin/models/${model}/versions/1/variants/v`, { method: "PUT", key: ADMIN, body: bytes, headers });
      expect(put.status, await put.text()).toBe(201);
    };
    const pinned = { inputs: inputs(), parameters: { variant: "v" } };
    await putVariant("models/mlp-tiny/1/model.onnx");
    const first = await infer(model, pinned);
    expect(first).toMatchObject({ status: 200, cache: "miss" });
    expect(await infer(model, pinned)).toMatchObject({ cache: "hit", text: first.text });
    await catalogWriteSlotFree(model);
    const deleted = await call(`/admin/models/${model}/versions/1/variants/v`, { method: "DELETE", key: ADMIN });
    expect(deleted.status, await deleted.text()).toBe(200);
    const gone = await infer(model, pinned);
    expect(gone.status).toBe(400);
    expect(gone.text).toMatch(/has no variant 'v'/);
    expect((await infer(model, { inputs: inputs(), parameters: { variant: 5 } })).status).toBe(400);
    await putVariant("fixtures/mlp-tiny-v2.onnx");
    const fresh = await infer(model, pinned);
    expect(fresh).toMatchObject({ status: 200, cache: "miss" });
    expect(fresh.text).not.toBe(first.text);
  });

  it("refuses a stateful model (Silero's state/stateN, or stateful=true) at upload with a 400, leaving nothing behind", async () => {
    const silero = await fixtureBytes("models/silero-vad/1/model.onnx");
    const cases: [Uint8Array, string, RegExp][] = [
      [silero, "?cache_ttl_seconds=60", /input 'state' and output 'stateN'/],
      [mlpBytes, "?cache_ttl_seconds=60&stateful=true", /stateful model's answers are never cached/],
    ];
    for (const [bytes, query, message] of cases) {
      const name = freshName("cache-stateful");
      const response = await uploadModel(name, "1", bytes, query);
      const text = await response.text();
      expect(response.status, text).toBe(400);
      expect(JSON.parse(text).error).toMatch(message);
      expect((await call(`/admin/models/${name}`, { key: ADMIN })).status).toBe(404);
      expect((await env.MODELS.list({ prefix: `models/${name}/` })).objects).toEqual([]);
    }
    // The uploader may say the look-alike tensors are not state.
    await uploaded("cache-not-stateful", "?cache_ttl_seconds=60&stateful=false", silero);
  });

  it.each([
    ["cache_ttl_seconds=-1", "cache_ttl_seconds must be an integer from 0 (off) to 86400"],
    ["cache_ttl_seconds=86401", "cache_ttl_seconds must be an integer from 0 (off) to 86400"],
    ["cache_ttl_seconds=1.5", "cache_ttl_seconds must be an integer"],
    ["cache_ttl_seconds=", "cache_ttl_seconds must be an integer"],
    ["cache_ttl_seconds=60&cache_scope=world", "cache_scope must be one of tenant, shared"],
    ["cache_scope=shared", "cache_scope needs cache_ttl_seconds above 0"],
    ["cache_ttl_seconds=60&stateful=yes", "stateful must be true or false"],
  ])("refuses %s at upload with a 400", async (query, message) => {
    const response = await uploadModel(freshName("cache-bad"), "1", mlpBytes, `?${query}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain(message);
  });
});
