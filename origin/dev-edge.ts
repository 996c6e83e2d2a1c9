/**
 * @module A stand-in for the edge's internal model routes (router/routes/internal-models.ts),
 * serving the models prepared under `.hotpath/models` (scripts/prepare-models.ts). It lets an
 * origin run where the edge cannot: the origin's tests, and a GPU machine (docs/gpu.md), which may have no
 * wrangler. Same paths, same bearer token rule, same record fields and `x-model-sha256` header.
 *
 * From the shell: `ORIGIN_TOKEN=... node origin/dev-edge-main.ts --port 8787 [--root .hotpath/models]`.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { resolve } from "node:path";
import type { ModelVersionRecord } from "../protocol/model-record.ts";
import { bearerToken } from "../protocol/http/bearer.ts";
import { holdsSecret } from "../protocol/http/bearer-auth.ts";
import type { TensorSpec } from "../protocol/oip/tensor.ts";
import { MODEL_SHA256_HEADER } from "../protocol/headers.ts";

/** The fields of scripts/prepare-models.ts's manifest that a record is made from. */
interface ManifestEntry {
  name: string;
  version: string;
  path: string;
  sha256: string;
  bytes: number;
  placement: ModelVersionRecord["placement"];
  maxBatch: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export interface DevEdgeOptions {
  port: number;
  host?: string;
  token: string;
  /** The prepared models' folder, holding manifest.json; paths in it are relative to `repoRoot`. */
  modelsDir: string;
  repoRoot: string;
  /** Triton's max_queue_delay for every record (the edge's upload parameter), milliseconds. */
  maxQueueDelayMs?: number;
}

export interface DevEdge {
  url: string;
  /** Requests per path kind and model, e.g. `bytes mlp-heavy@1`: how tests see what the origin fetched. */
  counts: Map<string, number>;
  close(): Promise<void>;
}

/** @example const edge = await startDevEdge({ port: 8850, token, modelsDir: ".hotpath/models", repoRoot: "." }); */
export function startDevEdge(options: DevEdgeOptions): Promise<DevEdge> {
  const manifest = JSON.parse(readFileSync(resolve(options.modelsDir, "manifest.json"), "utf8")) as ManifestEntry[];
  const counts = new Map<string, number>();
  const server: Server = createServer(async (request, response) => {
    const send = (status: number, body: string | Uint8Array, headers: Record<string, string> = { "content-type": "application/json" }) => {
      response.writeHead(status, headers);
      response.end(body);
    };
    const match = /^\/internal\/models\/([^/]+)\/versions\/([^/]+)(\/bytes)?$/.exec(request.url ?? "");
    if (request.method !== "GET" || !match) return send(404, JSON.stringify({ error: `no route for ${request.method} ${request.url}` }));
    const token = bearerToken(request.headers.authorization);
    if (!token) return send(401, JSON.stringify({ error: "missing origin token" }));
    if (!(await holdsSecret(request.headers.authorization, options.token))) return send(403, JSON.stringify({ error: "this route needs the origin token" }));
    let parts: (string | undefined)[];
    try {
      parts = match.map((part) => (part === undefined ? undefined : decodeURIComponent(part)));
    } catch {
      return send(400, JSON.stringify({ error: "malformed escape in the path" }));
    }
    const [, name = "", version = "", bytes] = parts;
    const key = `${bytes ? "bytes" : "record"} ${name}@${version}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const entry = manifest.find((m) => m.name === name && m.version === version);
    if (!entry) return send(404, JSON.stringify({ error: `unknown model '${name}' version '${version}'` }));
    if (bytes) {
      const data = readFileSync(resolve(options.repoRoot, entry.path));
      return send(200, data, { "content-type": "application/octet-stream", "content-length": String(data.byteLength), [MODEL_SHA256_HEADER]: entry.sha256 });
    }
    return send(200, JSON.stringify(recordOf(entry, options.maxQueueDelayMs ?? 0)));
  });
  const host = options.host ?? "127.0.0.1";
  return new Promise((resolveStart, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      resolveStart({
        url: `http://${host}:${options.port}`,
        counts,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** A record as the registry would hold it; the batch axes are read from the model by the origin itself. */
function recordOf(entry: ManifestEntry, maxQueueDelayMs: number): ModelVersionRecord {
  return {
    name: entry.name,
    version: entry.version,
    r2Key: `models/${entry.name}/${entry.version}`,
    sha256: entry.sha256,
    bytes: entry.bytes,
    inputs: entry.inputs,
    outputs: entry.outputs,
    placement: entry.placement,
    maxBatch: entry.maxBatch,
    maxQueueDelayMs,
    batchAxes: undefined,
    minReplicas: 1,
    maxReplicas: 1,
    state: "ready",
    createdAt: 0,
  };
}
