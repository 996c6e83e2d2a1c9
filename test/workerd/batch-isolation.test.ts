/**
 * @module One tenant's bad request cannot fail other tenants' requests by sharing their batch,
 * through the real Worker and ModelHost with Silero VAD: a standard request whose `state` brings
 * 5 rows for an `input` of 1 (the shapes alone match the premium requests' batch key) is refused
 * 400 before it is queued, and the concurrent premium requests, batched, all get their answers.
 * Before the check it joined their batch, onnxruntime refused the merged run, and every request
 * in it got 400.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { expectOutputsClose, loadFixture, type Fixture, type FixtureTensor } from "./fixtures.ts";

const MODEL = "vad-isolation";
const PREMIUM_REQUESTS = 24;

let premium: string;
let standard: string;
let cases: Fixture[];

beforeAll(async () => {
  // Held up to 50 ms to fill a batch, so concurrent requests share runs.
  const response = await uploadModel(MODEL, "1", await fixtureBytes("models/silero-vad/1/model.onnx"), "?max_batch=32&max_queue_delay_microseconds=50000");
  expect(response.status, await response.text()).toBe(201);
  premium = await createTenant("isolation-premium", "premium");
  standard = await createTenant("isolation-standard", "standard");
  cases = await Promise.all(["silero-speech", "silero-silence"].map(loadFixture));
});

const timingOf = (response: Response, name: string) => response.headers.get("server-timing")?.match(new RegExp(`${name};desc="([^"]+)"`))?.[1];

describe("batch isolation", () => {
  it("a standard request whose state disagrees with its input on the batch size gets 400; the concurrent premium requests all get 200 and their outputs", async () => {
    const fixtureOf = (k: number) => cases[k % cases.length]!;
    const [input, , sr] = fixtureOf(0).inputs as [FixtureTensor, FixtureTensor, FixtureTensor];
    expect(input.shape).toEqual([1, 576]);
    const poisoned = { inputs: [input, { name: "state", datatype: "FP32", shape: [2, 5, 128], data: new Array(2 * 5 * 128).fill(0) }, sr] };

    const sends = Array.from({ length: PREMIUM_REQUESTS }, (_, k) => inferJson(MODEL, premium, { inputs: fixtureOf(k).inputs }));
    // In the middle of the premium requests, so that without the check it would share their batch.
    sends.splice(PREMIUM_REQUESTS / 2, 0, inferJson(MODEL, standard, poisoned));
    const responses = await Promise.all(sends);
    const [bad] = responses.splice(PREMIUM_REQUESTS / 2, 1);

    expect(bad!.status).toBe(400);
    expect(((await bad!.json()) as { error: string }).error).toMatch(
      /inputs disagree on the batch size: input 'input' \(axis 0 of shape \[1,576\]\) has 1, input 'state' \(axis 1 of shape \[2,5,128\]\) has 5/,
    );
    const failed: string[] = [];
    for (const [k, response] of responses.entries()) {
      if (response.status !== 200) {
        failed.push(`premium ${k}: ${response.status} ${await response.text()}`);
        continue;
      }
      expectOutputsClose(((await response.json()) as { outputs: FixtureTensor[] }).outputs, fixtureOf(k).outputs);
    }
    expect(failed, `${failed.length} of ${PREMIUM_REQUESTS} premium requests failed`).toEqual([]);
    // Still batched: the premium requests shared runs.
    expect(Math.max(...responses.map((r) => Number(timingOf(r, "batch"))))).toBeGreaterThan(1);
  });
});
