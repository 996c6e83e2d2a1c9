/**
 * @module An origin server for workerd tests, which cannot listen on a port: answered in this
 * isolate's `fetch` (the router calls origins with the global fetch). It loads what it is asked to
 * as a real origin does, fetching the record and the bytes from the edge's internal route with the
 * origin token and checking their sha256; it runs inferences on an edge model with the same bytes
 * (its "twin", through the Worker), so its outputs are onnxruntime's, not made up. It keeps what it
 * loaded by served version and logs every load, unload and inference path, for the tests to read.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import { INFERENCE_HEADER_LENGTH_HEADER } from "../../protocol/headers.ts";
import type { ModelVersionRecord } from "../../protocol/model-record.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { sha256Hex } from "../../protocol/sha256.ts";
import worker from "../../router/index.ts";
import { call, inferJson } from "./helpers.ts";

export interface FakeOrigin {
  /** `name@served version` → the record the edge gave for it. */
  loaded: Map<string, ModelVersionRecord>;
  /** `name@served version` of each unload asked for, in order. */
  unloads: string[];
  /** Paths of the inferences asked for. */
  inferPaths: string[];
  /** `ORIGINS` listing this origin under `id` and `url`. */
  envWith(id: string, url: string): Env;
}

export interface FakeOriginOptions {
  /** Base URLs answered; every other fetch goes to the network as usual. */
  urls: string[];
  /** The edge model (uploaded by the test) that runs inferences for bytes of each sha256. */
  twinOf: (sha256: string) => string | undefined;
  /** The tenant key the twins are called with. */
  key: () => string;
  /** The ready body of `url`: undefined is ready as a whole; else 503 listing these served versions (`name@version`) as ready. */
  partial?: (url: string) => string[] | undefined;
}

/** Runs a request through the Worker with `bindings`, its background work (waitUntil) included. */
export async function through(bindings: Env, path: string, init: RequestInit): Promise<Response> {
  const context = createExecutionContext();
  const response = await worker.fetch(new Request(`http://hotpath.test${path}`, init), bindings, context);
  await waitOnExecutionContext(context);
  return response;
}

/** Installs the fake origin on the global fetch (vi.restoreAllMocks removes it). */
export function installFakeOrigin(options: FakeOriginOptions): FakeOrigin {
  const origin: FakeOrigin = {
    loaded: new Map(),
    unloads: [],
    inferPaths: [],
    envWith: (id, url) => ({ ...env, ORIGINS: JSON.stringify([{ id, url }]) }),
  };
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const base = options.urls.find((url) => request.url.startsWith(`${url}/`));
    if (!base) return realFetch(input, init);
    return answer(origin, options, base, request);
  });
  return origin;
}

async function answer(origin: FakeOrigin, options: FakeOriginOptions, base: string, request: Request): Promise<Response> {
  if (request.headers.get("authorization") !== `Bearer ${env.ORIGIN_TOKEN}`) return Response.json({ error: "bad token" }, { status: 403 });
  const path = new URL(request.url).pathname;
  // /v2/repository/models/{m}/load|unload, /v2/models/{m}/versions/{v}[/infer]
  const parts = path.split("/").map(decodeURIComponent);
  if (path === "/v2/health/ready") {
    const ready = options.partial?.(base);
    if (!ready) return Response.json({ ready: true });
    const models = ready.map((served) => ({ name: served.split("@")[0], version: served.split("@")[1], state: "ready" }));
    return Response.json({ ready: false, models, error: "not ready" }, { status: 503 });
  }
  if (parts[2] === "repository") {
    const name = parts[4] ?? "";
    const version = ((await request.json()) as { parameters: { version: string } }).parameters.version;
    if (parts[5] === "unload") {
      origin.unloads.push(`${name}@${version}`);
      return Response.json({ unloaded: origin.loaded.delete(`${name}@${version}`) });
    }
    return load(origin, options, name, version);
  }
  const [, , route, name = "", versions, version, infer] = parts;
  const record = origin.loaded.get(`${name}@${version}`);
  if (route !== "models" || versions !== "versions" || !record) return Response.json({ error: `this origin does not serve ${path}` }, { status: 404 });
  // The signature a real origin reads from its session: the twin's, from the edge's metadata.
  if (infer === undefined) return call(`/v2/models/${options.twinOf(record.sha256)}`, { key: options.key() });
  origin.inferPaths.push(path);
  const headerLength = request.headers.get(INFERENCE_HEADER_LENGTH_HEADER);
  const parsed = parseInferRequest(new Uint8Array(await request.arrayBuffer()), headerLength === null ? undefined : Number(headerLength), {
    maxTensorElements: 1 << 20,
    maxInputs: 8,
  });
  const inputs = parsed.inputs.map((t) => ({ ...t, data: Array.from(t.data as Float32Array) }));
  const onTwin = await inferJson(options.twinOf(record.sha256)!, options.key(), { inputs });
  return new Response(onTwin.body, { status: onTwin.status, headers: { "content-type": "application/json" } });
}

/** As origin/model-loader.ts: the record, then the bytes, checked against the record's sha256. */
async function load(origin: FakeOrigin, options: FakeOriginOptions, name: string, version: string): Promise<Response> {
  const headers = { authorization: `Bearer ${env.ORIGIN_TOKEN}` };
  const path = `/internal/models/${name}/versions/${version}`;
  const recordResponse = await through(env, path, { headers });
  if (!recordResponse.ok) return new Response(recordResponse.body, { status: recordResponse.status });
  const record = (await recordResponse.json()) as ModelVersionRecord;
  const bytes = await through(env, `${path}/bytes`, { headers });
  const sha256 = await sha256Hex(new Uint8Array(await bytes.arrayBuffer()));
  if (sha256 !== record.sha256 || record.version !== version) return Response.json({ error: "the edge sent other bytes" }, { status: 502 });
  if (!options.twinOf(sha256)) return Response.json({ error: "no twin for these bytes" }, { status: 422 });
  origin.loaded.set(`${name}@${version}`, record);
  return Response.json({ name, version, loaded: true });
}
