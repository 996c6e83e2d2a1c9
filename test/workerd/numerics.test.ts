/**
 * The demo models served by hotpath (onnxruntime-web in a ModelHost) give the outputs
 * onnxruntime-node gives on the same inputs, within 1e-4.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ctcGreedyDecode, parseKeys } from "../../functions/ocr/ctc-decode.ts";
import { createTenant, ensureDemoModel, fixtureBytes, inferJson } from "./helpers.ts";
import { expectOutputsClose, loadFixture } from "./fixtures.ts";

interface InferBody {
  model_name: string;
  model_version: string;
  outputs: { name: string; shape: number[]; data: number[] }[];
}

let key: string;

beforeAll(async () => {
  await ensureDemoModel("silero-vad");
  await ensureDemoModel("ppocr-rec");
  await ensureDemoModel("mlp-tiny");
  key = await createTenant("numerics", "premium");
});

describe("outputs equal onnxruntime-node's", () => {
  for (const name of ["silero-speech", "silero-silence", "mlp-tiny"]) {
    it(name, async () => {
      const fixture = await loadFixture(name);
      const response = await inferJson(fixture.model, key, { inputs: fixture.inputs });
      const body = (await response.json()) as InferBody;
      expect(response.status, JSON.stringify(body)).toBe(200);
      expect(body.model_name).toBe(fixture.model);
      expect(body.model_version).toBe("1");
      expectOutputsClose(body.outputs, fixture.outputs);
    });
  }

  it("silero tells speech from silence", async () => {
    const probability = async (name: string) => {
      const fixture = await loadFixture(name);
      const body = (await (await inferJson("silero-vad", key, { inputs: fixture.inputs, outputs: [{ name: "output" }] })).json()) as InferBody;
      expect(body.outputs.map((o) => o.name)).toEqual(["output"]);
      return body.outputs[0]!.data[0]!;
    };
    expect(await probability("silero-speech")).toBeGreaterThan(0.8);
    expect(await probability("silero-silence")).toBeLessThan(0.02);
  });

  it("ppocr-rec reads the rendered text line", async () => {
    const fixture = await loadFixture("ppocr-textline");
    const response = await inferJson("ppocr-rec", key, { inputs: fixture.inputs });
    const body = (await response.json()) as InferBody;
    expect(response.status).toBe(200);
    expectOutputsClose(body.outputs, fixture.outputs);
    const [, timesteps = 0, classes = 0] = body.outputs[0]!.shape;
    const keys = parseKeys(new TextDecoder().decode(await fixtureBytes("models/ppocr-rec/1/ppocr_keys_v1.txt")));
    const decoded = ctcGreedyDecode(Float32Array.from(body.outputs[0]!.data), timesteps, classes, keys);
    expect(decoded.text).toBe(fixture.expectedText);
  });
});
