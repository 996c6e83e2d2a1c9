/**
 * @module Model metadata and readiness, and the OIP model_repository extension: the edge (or an
 * operator, with the origin token) lists what this origin serves and loads or unloads a version
 * at run time. A load answers when the version is warm, or with why it could not be.
 */
import { Hono, type Context } from "hono";
import { badRequest, HttpError, notFound } from "../../protocol/errors.ts";
import { errorResponse } from "../../protocol/http/error-response.ts";
import { describeValue } from "../../protocol/oip/json-tensor.ts";
import { isObject } from "../../protocol/oip/wire-tensors.ts";
import type { OriginContext, OriginEnv } from "../context.ts";
import type { ModelEntry } from "../model-store.ts";

export function modelRoutes(context: OriginContext): Hono<OriginEnv> {
  const { store } = context;
  const routes = new Hono<OriginEnv>();
  const metadata = (c: Context<OriginEnv>) => {
    const name = c.req.param("model") ?? "";
    const entry = store.find(name, c.req.param("version"), (e) => e.state === "ready");
    if (!entry.record) throw new HttpError(503, `${name}@${entry.version} is still loading on this origin`, 2);
    return c.json({
      name,
      versions: store
        .entries()
        .filter((e) => e.name === name)
        .map((e) => e.version),
      platform: "onnxruntime_onnx",
      inputs: entry.session?.inputs ?? entry.record.inputs,
      outputs: entry.session?.outputs ?? entry.record.outputs,
      parameters: { version: entry.version, state: entry.state, max_batch: entry.record.maxBatch, sha256: entry.record.sha256 },
    });
  };
  const ready = (c: Context<OriginEnv>) => {
    const name = c.req.param("model") ?? "";
    const entry = store.find(name, c.req.param("version"), (e) => e.state === "ready");
    const body = { name, version: entry.version, ready: entry.state === "ready" };
    if (body.ready) return c.json(body);
    return errorResponse(new HttpError(503, `${name}@${entry.version} is ${entry.state}${entry.error ? `: ${entry.error}` : ""}`, 2), body);
  };
  routes.get("/v2/models/:model", metadata);
  routes.get("/v2/models/:model/versions/:version", metadata);
  routes.get("/v2/models/:model/ready", ready);
  routes.get("/v2/models/:model/versions/:version/ready", ready);

  routes.post("/v2/repository/index", (c) =>
    c.json(store.entries().map((e) => ({ name: e.name, version: e.version, state: repositoryState(e), reason: e.state === "ready" ? "" : (e.error ?? "") }))),
  );
  routes.post("/v2/repository/models/:model/load", async (c) => {
    const name = c.req.param("model");
    const version = await versionOf(c);
    if (version === undefined) throw badRequest(`say which version of '${name}' to load: {"parameters": {"version": "1"}} or ?version=1`);
    const entry = await store.load(name, version);
    return c.json({ name, version, loaded: true, source: entry.source, loadMs: Math.round(entry.loadMs ?? 0) });
  });
  routes.post("/v2/repository/models/:model/unload", async (c) => {
    const name = c.req.param("model");
    const version = await versionOf(c);
    const versions =
      version !== undefined
        ? [version]
        : store
            .entries()
            .filter((e) => e.name === name)
            .map((e) => e.version);
    const unloaded = (await Promise.all(versions.map((v) => store.unload(name, v)))).some(Boolean);
    if (!unloaded) throw notFound(`this origin does not serve ${version === undefined ? `model '${name}'` : `${name}@${version}`}`);
    return c.json({ name, unloaded: true, versions });
  });
  return routes;
}

/** The version from the OIP repository body (`{"parameters": {"version": ...}}`) or the query. */
async function versionOf(c: Context<OriginEnv>): Promise<string | undefined> {
  const text = await c.req.text();
  let fromBody: unknown;
  if (text.trim() !== "") {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw badRequest('the body must be JSON: {"parameters": {"version": "1"}}');
    }
    if (!isObject(body) || (body.parameters !== undefined && !isObject(body.parameters)))
      throw badRequest(`the body must be {"parameters": {...}}, got ${describeValue(body)}`);
    fromBody = body.parameters?.version;
  }
  const version = fromBody ?? c.req.query("version");
  if (version !== undefined && typeof version !== "string") throw badRequest(`parameters.version must be a string, got ${describeValue(version)}`);
  return version;
}

function repositoryState(entry: ModelEntry): string {
  return entry.state === "ready" ? "READY" : entry.state === "loading" ? "LOADING" : "UNAVAILABLE";
}
