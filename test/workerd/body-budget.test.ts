/**
 * @module The router isolate's budget for request bodies (ROUTER_BODY_BUDGET_MB, 64 KiB here),
 * through the real Worker and ModelHost: bodies that together would pass it are refused with 503
 * and Retry-After, one alone passes, and the bytes return to the budget however a request ends
 * (answered, refused, its body failing, its client gone). The Worker runs in this isolate, so the
 * test reads the isolate's count directly.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { bodyBytesInUse } from "../../router/admission/body-budget.ts";
import worker from "../../router/index.ts";
import { encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import { createTenant, fixtureBytes, uploadModel } from "./helpers.ts";
import { loadFixture } from "./fixtures.ts";
import { expectRefusal, freshName } from "./refusals.ts";

const KIB = 1024;
const BUDGET_BYTES = 64 * KIB;
/** A body of 40 KiB: one fits the budget, two do not. */
const BODY_BYTES = 40 * KIB;
const bindings: Env = { ...env, ROUTER_BODY_BUDGET_MB: String(BUDGET_BYTES / (KIB * KIB)) };

let key: string;
let model: string;
/** A valid inference body padded with leading whitespace (which JSON allows) to BODY_BYTES. */
let body: Uint8Array;

beforeAll(async () => {
  key = await createTenant(freshName("budget"), "premium");
  model = freshName("budget-mlp");
  const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=64");
  expect(upload.status, await upload.clone().text()).toBe(201);
  const json = new TextEncoder().encode(JSON.stringify({ inputs: (await loadFixture("mlp-tiny")).inputs }));
  body = new Uint8Array(BODY_BYTES).fill(0x20);
  body.set(json, BODY_BYTES - json.byteLength);
});

function send(payload: BodyInit, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  const request = new Request(`http://hotpath.test/v2/models/${model}/infer`, {
    method: "POST",
    body: payload,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    signal,
  });
  return Promise.resolve(worker.fetch(request, bindings, createExecutionContext()));
}

/** The whole body with its Content-Length declared. */
const declared = () => send(body.slice(), { "content-length": String(BODY_BYTES) });

interface Held {
  /** Settles once the Worker has read (and counted) all but the last chunk and asks for the rest. */
  counted: Promise<void>;
  /** Sends the rest of the body. */
  finish(): void;
  /** Fails the body stream, as a broken upload does. */
  fail(): void;
  abort(): void;
  response: Promise<Response>;
}

/** A body without Content-Length, all but its last 1 KiB sent at once and the rest held back. */
function held(): Held {
  const split = BODY_BYTES - KIB;
  let asked!: () => void;
  const counted = new Promise<void>((resolve) => (asked = resolve));
  let stream!: ReadableStreamDefaultController<Uint8Array>;
  let pulls = 0;
  const abort = new AbortController();
  const payload = new ReadableStream<Uint8Array>(
    {
      start: (controller) => void (stream = controller),
      pull(controller) {
        pulls += 1;
        if (pulls === 1) controller.enqueue(body.slice(0, split));
        else if (pulls === 2) asked();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    counted,
    finish: () => {
      stream.enqueue(body.slice(split));
      stream.close();
    },
    fail: () => stream.error(new Error("the upload broke")),
    abort: () => abort.abort(),
    response: send(payload, {}, abort.signal),
  };
}

describe("the router isolate's body budget", () => {
  it("one body alone passes, and its bytes go back once it is answered", async () => {
    const response = await declared();
    expect(response.status, await response.text()).toBe(200);
    expect(bodyBytesInUse()).toBe(0);
  });

  it("a body that would take the total over the budget is refused at once with 503, declared or counted as it arrives", async () => {
    const first = held();
    await first.counted;
    expect(bodyBytesInUse()).toBe(BODY_BYTES - KIB);

    expect(await expectRefusal(await declared(), 503)).toMatch(/too many request bodies at once/);
    const second = held();
    expect(await expectRefusal(await second.response, 503)).toMatch(/too many request bodies at once/);
    expect(bodyBytesInUse(), "refused bodies hold nothing").toBe(BODY_BYTES - KIB);

    first.finish();
    const answered = await first.response;
    expect(answered.status, await answered.text()).toBe(200);
    expect(bodyBytesInUse()).toBe(0);
    const again = await declared();
    expect(again.status, await again.text()).toBe(200);
  });

  it("a body that fails while it is read is the client's 400, and gives its bytes back", async () => {
    const broken = held();
    await broken.counted;
    expect(bodyBytesInUse()).toBe(BODY_BYTES - KIB);
    broken.fail();
    const response = await broken.response;
    expect(response.status, await response.clone().text()).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/request body could not be read/);
    expect(bodyBytesInUse()).toBe(0);
  });

  it("a client that goes away gives its bytes back at once, before its request unwinds", async () => {
    const gone = held();
    await gone.counted;
    expect(bodyBytesInUse()).toBe(BODY_BYTES - KIB);
    gone.abort();
    expect(bodyBytesInUse()).toBe(0);
    const next = await declared();
    expect(next.status, await next.text()).toBe(200);
    gone.finish();
    await gone.response.catch(() => undefined);
    expect(bodyBytesInUse()).toBe(0);
  });

  it("counts a JSON body for what its parse will hold: over a budget its bytes fit, 413 naming the binary extension; the same tensor in binary is served", async () => {
    const rows = Array.from({ length: 64 }, (_, r) => Array.from({ length: 16 }, (_, k) => (r + k) / 100));
    const tensor = { name: (await loadFixture("mlp-tiny")).inputs[0]!.name, datatype: "FP32" as const, shape: [64, 16] };
    const json = new TextEncoder().encode(JSON.stringify({ inputs: [{ ...tensor, data: rows.flat() }] }));
    const binary = encodeInferRequest({ inputs: [{ ...tensor, data: Float32Array.from(rows.flat()) }] }, { binary: true });
    // 1,024 values: a body of about 6 KiB that parses into about 12 KiB more; the binary body is about 4 KiB.
    const tight: Env = { ...env, ROUTER_BODY_BUDGET_MB: String((12 * KIB) / (KIB * KIB)) };
    const post = (payload: Uint8Array, headers: Record<string, string>) =>
      Promise.resolve(
        worker.fetch(
          new Request(`http://hotpath.test/v2/models/${model}/infer`, {
            method: "POST",
            body: payload,
            headers: { authorization: `Bearer ${key}`, ...headers },
          }),
          tight,
          createExecutionContext(),
        ),
      );
    expect(json.byteLength).toBeLessThan(12 * KIB);
    const refused = await post(json, { "content-type": "application/json" });
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { error: string }).error).toMatch(
      /^parsing this JSON body would hold about \d+ bytes with the body, more than this server gives one request \(12288\); send large tensors with the binary extension$/,
    );
    expect(bodyBytesInUse()).toBe(0);
    const served = await post(binary.body, { "inference-header-content-length": String(binary.headerLength) });
    expect(served.status, await served.text()).toBe(200);
    expect(bodyBytesInUse()).toBe(0);
  });
});
