/**
 * @module The admin upload's size rules (`PUT /admin/models/{m}/versions/{v}`), through the real
 * Worker and R2: a body without Content-Length gets 411, one declared over the Worker's
 * MAX_UPLOAD_BYTES gets 413 before any of it is read, one declared at the limit is not refused
 * for its size, an `edge` or `auto` model whose warm session would not fit a host's
 * HOST_MEMORY_BUDGET_MB gets 413 before any of it is read (an `origin` one of the same size does
 * not), and a refused upload leaves nothing behind (no version, no object in R2).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { warmSessionBytes } from "../../protocol/session-memory.ts";
import { ADMIN, call, fixtureBytes } from "./helpers.ts";
import { freshName } from "./refusals.ts";

const uploadLimit = (): number => Number(env.MAX_UPLOAD_BYTES);

/** A body the test feeds chunk by chunk; `pulled` counts the chunks the Worker asked for. */
function trickle(chunks: Uint8Array[]): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const chunk = chunks[pulls++];
        if (chunk) controller.enqueue(chunk);
        else controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulls };
}

function put(name: string, body: BodyInit, headers: Record<string, string> = {}, query = ""): Promise<Response> {
  return call(`/admin/models/${name}/versions/1${query}`, {
    method: "PUT",
    key: ADMIN,
    body,
    headers: { "content-type": "application/octet-stream", ...headers },
  });
}

/** Nothing of `name` was registered or stored. */
async function expectNothingStored(name: string): Promise<void> {
  expect((await call(`/admin/models/${name}`, { key: ADMIN })).status).toBe(404);
  const objects = await env.MODELS.list({ prefix: `models/${name}/` });
  expect(objects.objects.map((o) => o.key)).toEqual([]);
}

async function errorOf(response: Response): Promise<string> {
  return ((await response.json()) as { error: string }).error;
}

describe("upload size rules", () => {
  it("a streamed upload without Content-Length gets 411, and nothing is stored", async () => {
    const name = freshName("upload-411");
    const bytes = await fixtureBytes("models/mlp-tiny/1/model.onnx");
    const { stream } = trickle([bytes.slice(0, 4096), bytes.slice(4096)]);
    const response = await put(name, stream);
    expect(response.status).toBe(411);
    expect(await errorOf(response)).toMatch(/Content-Length/);
    await expectNothingStored(name);
  });

  it("an upload declared over MAX_UPLOAD_BYTES gets 413 before its body is read, and nothing is stored", async () => {
    const name = freshName("upload-413");
    const limit = uploadLimit();
    expect(limit).toBeGreaterThan(0);
    // Only a first chunk exists: the refusal must come from the declared length alone.
    const { stream, pulled } = trickle([new Uint8Array(1024)]);
    const response = await put(name, stream, { "content-length": String(limit + 1) });
    expect(response.status).toBe(413);
    expect(await errorOf(response)).toContain(`${limit + 1} bytes exceeds the upload limit of ${limit} bytes`);
    expect(pulled(), "at most the first chunk was read").toBeLessThanOrEqual(1);
    await expectNothingStored(name);
  });

  it("an upload declared exactly at the limit is not refused for its size (a body shorter than declared is a 400)", async () => {
    const name = freshName("upload-at-limit");
    const { stream } = trickle([new Uint8Array(1024)]);
    // An origin model: the limit is far more than an edge host could keep warm.
    const response = await put(name, stream, { "content-length": String(uploadLimit()) }, "?placement=origin");
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/did not match its Content-Length/);
    await expectNothingStored(name);
  });

  it("a whole model with its Content-Length is accepted (the rules refuse only what they should)", async () => {
    const name = freshName("upload-ok");
    const bytes = await fixtureBytes("models/mlp-tiny/1/model.onnx");
    const response = await put(name, bytes, { "content-length": String(bytes.byteLength) });
    expect(response.status, await response.clone().text()).toBe(201);
    const objects = await env.MODELS.list({ prefix: `models/${name}/` });
    expect(objects.objects.map((o) => o.size)).toEqual([bytes.byteLength]);
  });
});

/** The largest model file whose warm session fits the host memory budget. */
function largestWarmable(): number {
  const budget = Number(env.HOST_MEMORY_BUDGET_MB) * 1024 * 1024;
  let [fits, over] = [1, budget];
  while (over - fits > 1) {
    const middle = Math.floor((fits + over) / 2);
    if (warmSessionBytes(middle) <= budget) fits = middle;
    else over = middle;
  }
  return fits;
}

describe("uploads no edge host could keep warm", () => {
  for (const placement of ["edge", "auto"]) {
    it(`placement=${placement}: 413 before the body is read, saying to upload it with placement=origin; nothing is stored`, async () => {
      const name = freshName(`upload-warm-${placement}`);
      const { stream, pulled } = trickle([new Uint8Array(1024)]);
      const response = await put(name, stream, { "content-length": String(largestWarmable() + 1) }, `?placement=${placement}`);
      expect(response.status).toBe(413);
      const error = await errorOf(response);
      expect(error).toMatch(/too large to keep warm on an edge host/);
      expect(error).toMatch(new RegExp(`budget of ${env.HOST_MEMORY_BUDGET_MB} MB`));
      expect(error).toMatch(/\d+\.\d MB.*\d+\.\d MB.*placement=origin/);
      expect(pulled(), "at most the first chunk was read").toBeLessThanOrEqual(1);
      await expectNothingStored(name);
    });
  }

  it("a model whose warm session just fits is not refused for its size (a body shorter than declared is a 400)", async () => {
    const name = freshName("upload-warm-fits");
    const { stream } = trickle([new Uint8Array(1024)]);
    const response = await put(name, stream, { "content-length": String(largestWarmable()) }, "?placement=auto");
    expect(response.status).toBe(400);
    expect(await errorOf(response)).toMatch(/did not match its Content-Length/);
    await expectNothingStored(name);
  });

  it("placement=origin with the same size is stored, and removed again when no origin can load it", async () => {
    const name = freshName("upload-warm-origin");
    const bytes = new Uint8Array(largestWarmable() + 1);
    const response = await put(name, bytes, { "content-length": String(bytes.byteLength) }, "?placement=origin");
    // The test Worker has no origin pool (ORIGINS is empty): the size passed, the load could not.
    expect(response.status, await response.clone().text()).toBe(503);
    expect(await errorOf(response)).toMatch(/reachable origin pool/);
    await expectNothingStored(name);
  });
});
