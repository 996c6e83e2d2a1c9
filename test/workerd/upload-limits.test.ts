/**
 * @module The admin upload's size rules (`PUT /admin/models/{m}/versions/{v}`), through the real
 * Worker and R2: a body without Content-Length gets 411, one declared over the Worker's
 * MAX_UPLOAD_BYTES gets 413 before any of it is read, one declared at the limit is not refused
 * for its size, and a refused upload leaves nothing behind (no version, no object in R2).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
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

function put(name: string, body: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  return call(`/admin/models/${name}/versions/1`, { method: "PUT", key: ADMIN, body, headers: { "content-type": "application/octet-stream", ...headers } });
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
    const response = await put(name, stream, { "content-length": String(uploadLimit()) });
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
