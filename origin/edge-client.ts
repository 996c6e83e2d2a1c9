/**
 * @module Fetches what the origin serves from the edge's registry (router/routes/internal-models.ts):
 * a version's record and its bytes, authenticated with the shared origin token. Every response
 * is checked here, because a record names the cache path and the sha256 the bytes must have.
 */
import type { ModelVersionRecord } from "../protocol/model-record.ts";
import { MODEL_SHA256_HEADER } from "../protocol/headers.ts";
import { badGateway, HttpError } from "../protocol/errors.ts";
import { errorMessageOf } from "../protocol/http/error-response.ts";
import { sha256Hex } from "../protocol/sha256.ts";
import { checkedRecord } from "./model-record.ts";

const RECORD_TIMEOUT_MS = 10_000;
const BYTES_TIMEOUT_MS = 300_000;

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
      throw badGateway(`the edge's record of ${name}@${version} is not JSON`);
    }
    return checkedRecord(body, name, version);
  }

  /** The bytes, only if their sha256 is the record's (and the edge's x-model-sha256 header agrees). */
  async bytes(record: ModelVersionRecord): Promise<Uint8Array> {
    const { name, version, sha256 } = record;
    const response = await this.#get(name, version, "/bytes", BYTES_TIMEOUT_MS);
    const header = response.headers.get(MODEL_SHA256_HEADER);
    if (header !== null && header !== sha256) throw badGateway(`the edge sends ${name}@${version} with sha256 ${header}, its record says ${sha256}`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw badGateway(`reading the bytes of ${name}@${version} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const actual = await sha256Hex(bytes);
    if (actual !== sha256) throw badGateway(`the bytes of ${name}@${version} from the edge have sha256 ${actual}, the record says ${sha256}`);
    return bytes;
  }

  async #get(name: string, version: string, suffix: string, timeoutMs: number): Promise<Response> {
    const url = `${this.#base}/internal/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}${suffix}`;
    let response: Response;
    try {
      response = await fetch(url, { headers: { authorization: `Bearer ${this.#token}` }, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
      throw badGateway(`the edge at ${this.#base} is unreachable: ${cause}`);
    }
    if (!response.ok) {
      const detail = await response.text().then(errorMessageOf, () => undefined);
      const message = `the edge answered ${response.status} for ${name}@${version}${suffix}${detail ? `: ${detail}` : ""}`;
      // The edge's own refusals (404 unknown version, 401/403 token) keep their status; its
      // failures are a bad gateway seen from here.
      throw response.status < 500 && HttpError.isErrorStatus(response.status) ? new HttpError(response.status, message) : badGateway(message);
    }
    return response;
  }
}
