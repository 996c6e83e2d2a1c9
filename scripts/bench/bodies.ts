/**
 * @module Request bodies the benchmark and the overload test send: one mlp-tiny row and one
 * Silero frame as OIP JSON (from the fixtures of `npm run models`), and rows for mlp-wide,
 * mlp-narrow and mlp-heavy in the binary tensor extension, both ways, so the router's JSON work stays small and
 * the ModelHost's run is what limits throughput.
 */
import { INFERENCE_HEADER_LENGTH_HEADER } from "../../protocol/headers.ts";
import { readFileSync } from "node:fs";
import { encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import { fixtureFile } from "./stack.ts";

interface FixtureTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

function fixtureInputs(name: string): FixtureTensor[] {
  return (JSON.parse(readFileSync(fixtureFile(name), "utf8")) as { inputs: FixtureTensor[] }).inputs;
}

export interface Body {
  body: Uint8Array;
  headers: Record<string, string>;
}

/** The first row of the mlp-tiny fixture: `[1, 16]` FP32, JSON. */
export function mlpTinyRow(): Body {
  const input = fixtureInputs("mlp-tiny.json")[0]!;
  const width = input.shape[1]!;
  const json = JSON.stringify({ inputs: [{ name: input.name, datatype: input.datatype, shape: [1, width], data: input.data.slice(0, width) }] });
  return { body: new TextEncoder().encode(json), headers: { "content-type": "application/json" } };
}

/** The speech fixture's frame for silero-vad (576 samples, state, sr), JSON. */
export function sileroFrame(): Body {
  const json = JSON.stringify({ inputs: fixtureInputs("silero-speech.json") });
  return { body: new TextEncoder().encode(json), headers: { "content-type": "application/json" } };
}

/** `rows` x 256 FP32 for mlp-wide (256-1024-1024-256), binary in and out. */
export function mlpWideRows(rows: number): Body {
  return mlpRows(rows, 256);
}

/** `rows` x 32 FP32 for mlp-narrow (32-1024-1024-1024-32), binary in and out. */
export function mlpNarrowRows(rows: number): Body {
  return mlpRows(rows, 32);
}

/** `rows` x 1024 FP32 for mlp-heavy (the origin's model), binary in and out. */
export function mlpHeavyRows(rows: number): Body {
  return mlpRows(rows, 1024);
}

/** `rows` x `width` FP32 named `input` (the generated MLPs), binary in and out. */
export function mlpRows(rows: number, width: number): Body {
  const data = new Float32Array(rows * width);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 0.5;
  const encoded = encodeInferRequest({ inputs: [{ name: "input", datatype: "FP32", shape: [rows, width], data }], binaryByDefault: true }, { binary: true });
  const headers: Record<string, string> = { "content-type": encoded.contentType };
  if (encoded.headerLength !== undefined) headers[INFERENCE_HEADER_LENGTH_HEADER] = String(encoded.headerLength);
  return { body: encoded.body, headers };
}
