/**
 * @module Fetches what the origin serves from the edge's registry (router/routes/internal-models.ts):
 * a version's record and its bytes, authenticated with the shared origin token. Every response
 * is checked here, because a record names the cache path and the sha256 the bytes must have.
 */
import type { ModelVersionRecord } from "../protocol/model-record.ts";
import { MODEL_SHA256_HEADER } from "../protocol/headers.ts";
import { sha256Hex } from "../protocol/sha256.ts";
import { checkedRecord, RecordError } from "./model-record.ts";

const RECORD_TIMEOUT_MS = 10_000;
const BYTES_TIMEOUT_MS = 300_000;

/** `status` is the edge's HTTP status, or 0 when it could not be reached or answered garbage. */
export class EdgeError extends Error {
  override readonly name = "EdgeError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class EdgeClient {
  readonly #base: string;
  readonly #token: string;

  constructor(base: string, token: string) {
    this.#base = base;
    this.#token = token;
  }

  /** @example await edge.record("mlp-heavy", "1") // { name, version, sha256, bytes, inputs, ... } */
  async record(name: string, version: string): Promise<ModelVersionRecord> {
    const response = await this.#get(name, version, "", RECORD_TIMEOUT_MS);
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new EdgeError(0, `the edge's record of ${name}@${version} is not JSON`);
    }
    try {
      return checkedRecord(body, name, version);
    } catch (error) {
      if (error instanceof RecordError) throw new EdgeError(0, `the edge's ${error.message}`);
      throw error;
    }
  }

  /** The bytes, only if their sha256 is the record's (and the edge's x-model-sha256 header agrees). */
  async bytes(record: ModelVersionRecord): Promise<Uint8Array> {
    const { name, version, sha256 } = record;
    const response = await this.#get(name, version, "/bytes", BYTES_TIMEOUT_MS);
    const header = response.headers.get(MODEL_SHA256_HEADER);
    if (header !== null && header !== sha256) throw new EdgeError(0, `the edge sends ${name}@${version} with sha256 ${header}, its record says ${sha256}`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw new EdgeError(0, `reading the bytes of ${name}@${version} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const actual = await sha256Hex(bytes);
    if (actual !== sha256) throw new EdgeError(0, `the bytes of ${name}@${version} from the edge have sha256 ${actual}, the record says ${sha256}`);
    return bytes;
  }

  async #get(name: string, version: string, suffix: string, timeoutMs: number): Promise<Response> {
    const url = `${this.#base}/internal/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}${suffix}`;
    let response: Response;
    try {
      response = await fetch(url, { headers: { authorization: `Bearer ${this.#token}` }, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
      throw new EdgeError(0, `the edge at ${this.#base} is unreachable: ${cause}`);
    }
    if (!response.ok) {
      const detail = await response.text().then((text) => errorText(text), () => "");
      throw new EdgeError(response.status, `the edge answered ${response.status} for ${name}@${version}${suffix}${detail ? `: ${detail}` : ""}`);
    }
    return response;
  }
}

function errorText(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON: show the start of it
  }
  return text.slice(0, 200);
}
