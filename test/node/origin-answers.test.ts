/**
 * @module Origin answers are not trusted, in Node against fake OIP servers on 127.0.0.1: an answer
 * over the size cap, one that is not an inference response, outputs other than those asked or at
 * odds with the model's signature, and a 401/403 (the origin refusing the edge's token) are each
 * the origin's failure: its breaker counts them, the request goes to another origin, and the
 * tenant sees 503, never the origin's word that a key is bad.
 */
import assert from "node:assert/strict";
import { createServer, type ServerResponse, type Server } from "node:http";
import { after, before, describe, test } from "node:test";
import { HttpError } from "../../protocol/errors.ts";
import type { ModelVersionRecord } from "../../protocol/model-record.ts";
import { inferOnPool, type OriginCall, type OriginClientEnv } from "../../router/origin-pool/origin-client.ts";
import { originPool } from "../../router/origin-pool/pool.ts";
import { freePorts } from "../e2e/harness/ports.ts";

const HOST = "127.0.0.1";
const TOKEN = "origin-secret";
/** The cap on an answer is twice this (MAX_INFER_BODY_BYTES): 2,000 bytes here. */
const MAX_BODY = 1_000;

const output = (name: string, datatype: string, shape: number[], data: number[]) => ({ name, datatype, shape, data });
const answer = (...outputs: ReturnType<typeof output>[]) => JSON.stringify({ model_name: "mlp", model_version: "1", outputs });

/** What the bad origin answers, by test; the good one always answers `y` as the signature says. */
const BAD: Record<string, (res: ServerResponse) => void> = {
  garbage: (res) => res.writeHead(200, { "content-type": "application/json" }).end("<html>gateway junk</html>"),
  // Streamed without a Content-Length, so only reading with a limit can stop it.
  oversize: (res) => {
    res.writeHead(200, { "content-type": "application/json" });
    const rows = Array.from({ length: 2_000 }, () => [0.5, 0.25]).flat();
    const body = answer(output("y", "FP32", [2_000, 2], rows));
    for (let at = 0; at < body.length; at += 512) res.write(body.slice(at, at + 512));
    res.end();
  },
  "declared oversize": (res) => {
    const body = answer(output("y", "FP32", [1, 2], [1, 2])).padEnd(5_000, " ");
    res.writeHead(200, { "content-type": "application/json", "content-length": String(body.length) }).end(body);
  },
  "another output": (res) => res.writeHead(200).end(answer(output("z", "FP32", [1, 2], [1, 2]))),
  "an extra output": (res) => res.writeHead(200).end(answer(output("y", "FP32", [1, 2], [1, 2]), output("z", "FP32", [1, 2], [1, 2]))),
  "no outputs": (res) => res.writeHead(200).end(answer()),
  "another datatype": (res) => res.writeHead(200).end(answer(output("y", "INT32", [1, 2], [1, 2]))),
  "a fixed dimension changed": (res) => res.writeHead(200).end(answer(output("y", "FP32", [1, 3], [1, 2, 3]))),
  "another rank": (res) => res.writeHead(200).end(answer(output("y", "FP32", [2], [1, 2]))),
  401: (res) => res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "missing or bad bearer token" })),
  403: (res) => res.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ error: "this key may not use model mlp" })),
};

let mode = "garbage";
let badCalls = 0;
const servers: Server[] = [];
const [BAD_PORT, GOOD_PORT] = await freePorts(2);

function serve(port: number, handle: (res: ServerResponse) => void): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => handle(res));
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(port, HOST, resolve));
}

before(async () => {
  await serve(BAD_PORT!, (res) => {
    badCalls++;
    BAD[mode]!(res);
  });
  await serve(GOOD_PORT!, (res) => res.writeHead(200).end(answer(output("y", "FP32", [1, 2], [0.5, 0.25]))));
});
after(() =>
  servers.forEach((s) => {
    s.closeAllConnections();
    s.close();
  }),
);

const model: ModelVersionRecord = {
  name: "mlp",
  version: "1",
  r2Key: "models/mlp/1.onnx",
  sha256: "0".repeat(64),
  bytes: 1,
  inputs: [{ name: "x", datatype: "FP32", shape: [-1, 2] }],
  outputs: [
    { name: "y", datatype: "FP32", shape: [-1, 2] },
    { name: "z", datatype: "FP32", shape: [-1, 2] },
  ],
  placement: "origin",
  maxBatch: 1,
  maxQueueDelayMs: 0,
  batchAxes: undefined,
  minReplicas: 1,
  maxReplicas: 1,
  state: "ready",
  createdAt: 0,
};

const call = (): OriginCall => ({
  model,
  inputs: [{ name: "x", datatype: "FP32", shape: [1, 2], data: new Float32Array([1, 2]) }],
  outputNames: ["y"],
  tenant: "t",
  priority: 1,
  deadline: Date.now() + 5_000,
});

/** A pool of its own per test (the pool is rebuilt when ORIGINS changes), so breakers start closed. */
const envOf = (label: string, withGood: boolean): OriginClientEnv => ({
  ORIGINS: JSON.stringify([
    { id: `bad ${label}`, url: `http://${HOST}:${BAD_PORT}` },
    ...(withGood ? [{ id: `good ${label}`, url: `http://${HOST}:${GOOD_PORT}` }] : []),
  ]),
  ORIGIN_TOKEN: TOKEN,
  MAX_INFER_BODY_BYTES: String(MAX_BODY),
});

describe("an origin's bad answer is the origin's failure", () => {
  for (const label of Object.keys(BAD)) {
    test(`${label}: the breaker counts it, the tenant sees 503 without the origin's message, another origin serves`, async () => {
      mode = label;
      const alone = envOf(label, false);
      for (let k = 0; k < 3; k++) {
        const error = await inferOnPool(alone, call()).then(
          () => assert.fail("a bad answer was taken"),
          (e: unknown) => e,
        );
        assert.ok(error instanceof HttpError);
        assert.equal(error.status, 503, error.message);
        assert.doesNotMatch(error.message, /bearer token|may not use|junk/);
      }
      assert.equal(originPool(alone)[0]!.breaker.state(), "open", "three failures open the breaker");

      const before = badCalls;
      const served = await inferOnPool(envOf(`${label} then good`, true), call());
      assert.equal(badCalls, before + 1, "the bad origin was tried first");
      assert.deepEqual([served.origin, served.attempts], [`good ${label} then good`, 2]);
      assert.deepEqual([...(served.outputs[0]!.data as Float32Array)], [0.5, 0.25]);
    });
  }

  test("an error answer is read only as far as its message: one that never ends still comes back at once, as the client's 400", async () => {
    const [port] = await freePorts(1);
    await new Promise<void>((resolve) => {
      const server = createServer((_req, res) => {
        res.writeHead(400, { "content-type": "text/plain" });
        res.write("x".repeat(100_000)); // and never ends
      });
      servers.push(server);
      server.listen(port, HOST, resolve);
    });
    const started = Date.now();
    const error = await inferOnPool({ ...envOf("endless", false), ORIGINS: JSON.stringify([{ id: "endless", url: `http://${HOST}:${port}` }]) }, call()).catch(
      (e: unknown) => e,
    );
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, 400, error.message);
    assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms: the whole body was waited for`);
  });

  test("a good answer within the cap is taken, in the order asked", async () => {
    mode = "garbage";
    const served = await inferOnPool({ ...envOf("good only", false), ORIGINS: JSON.stringify([{ id: "good", url: `http://${HOST}:${GOOD_PORT}` }]) }, call());
    assert.deepEqual([served.origin, served.attempts, served.outputs.map((o) => o.name)], ["good", 1, ["y"]]);
  });
});
