/**
 * @module Sampled payload logging of function calls through the real Worker, ModelHost and R2: a
 * `vad` call that runs a `silero-vad` version uploaded with `log_payloads=1` is written once under
 * `payload-logs/_functions/vad/<day>/<trace id>-<span id>.json`: its media as the base64 of the exact bytes
 * sent, with their content type, its options, the versions it ran and the JSON answer as sent;
 * media over 1 MB is cut at 1 MB and flagged. A version without the setting logs nothing.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { PAYLOAD_LOG_CAP_BYTES, type FunctionPayloadLogEntry } from "../../router/payload-log.ts";
import { ADMIN, call, createTenant, ensureDemoModel, fixtureBytes, uploadModel } from "./helpers.ts";
import { freshName } from "./refusals.ts";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const PREFIX = "payload-logs/_functions/vad/";

let key: string;

beforeAll(async () => {
  key = await createTenant(freshName("payload-fn-tenant"), "premium");
  await ensureDemoModel("silero-vad");
});

/** `logId`: the trace and span ids of the answer's traceparent, which name its log entry. */
async function vad(body: Uint8Array, query = ""): Promise<{ response: Response; answered: string; traceId: string; logId: string }> {
  const response = await call(`/v1/functions/vad${query}`, {
    method: "POST",
    key,
    body,
    headers: { "content-type": "audio/wav", [TIMEOUT_HEADER]: "10000" },
  });
  const answered = await response.text();
  expect(response.status, answered).toBe(200);
  const [, traceId = "", spanId = ""] = TRACEPARENT.exec(response.headers.get("traceparent") ?? "") ?? [];
  return { response, answered, traceId, logId: `${traceId}-${spanId}` };
}

const logKey = (logId: string) => `${PREFIX}${new Date().toISOString().slice(0, 10)}/${logId}.json`;

async function loggedEntry(logId: string): Promise<FunctionPayloadLogEntry> {
  await vi.waitUntil(async () => (await env.MODELS.head(logKey(logId))) !== null, { timeout: 5_000, interval: 20 });
  return JSON.parse(await (await env.MODELS.get(logKey(logId)))!.text()) as FunctionPayloadLogEntry;
}

/** A 16 kHz mono 16-bit WAV of `seconds` of silence. */
function silentWav(seconds: number): Uint8Array {
  const dataBytes = seconds * 16_000 * 2;
  const wav = new Uint8Array(44 + dataBytes);
  const view = new DataView(wav.buffer);
  const text = (at: number, value: string) => [...value].forEach((ch, k) => (wav[at + k] = ch.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  text(8, "WAVEfmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, 16_000, true);
  view.setUint32(28, 32_000, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, dataBytes, true);
  return wav;
}

const base64 = (bytes: Uint8Array): string => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));

describe("payload logging of function calls", () => {
  it("writes nothing while the function's model versions log nothing", async () => {
    const { logId } = await vad(await fixtureBytes("fixtures/speech.wav"));
    // The call's background work has had its turn: a logged call below is written within this time.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await env.MODELS.head(logKey(logId))).toBeNull();
  });

  describe("once silero-vad has a version with log_payloads=1", () => {
    let version: string;

    beforeAll(async () => {
      // A new default version of the same bytes, logging every call that runs it.
      version = String(100 + Math.floor(Math.random() * 1_000_000));
      const upload = await uploadModel("silero-vad", version, await fixtureBytes("models/silero-vad/1/model.onnx"), "?max_batch=16&log_payloads=1");
      expect(upload.status, await upload.clone().text()).toBe(201);
      const record = (await (await call("/admin/models/silero-vad", { key: ADMIN })).json()) as { defaultVersion?: string; versions: { version: string }[] };
      expect(record.versions.map((v) => v.version)).toContain(version);
    });

    it("writes the call's media in base64, its options, the versions it ran and the JSON answer as sent", async () => {
      const media = await fixtureBytes("fixtures/speech.wav");
      const { answered, traceId, logId } = await vad(media, "?min_silence_ms=300");
      const entry = await loggedEntry(logId);
      expect(entry).toMatchObject({
        trace_id: traceId,
        function: "vad",
        models: [{ model: "silero-vad", version }],
        options: { min_silence_ms: "300" },
        tenant: expect.stringMatching(/^payload-fn-tenant/),
      });
      expect(entry.request).toEqual({ encoding: "base64", body: base64(media), bytes: media.byteLength, truncated: false, content_type: "audio/wav" });
      expect(entry.response).toEqual({ encoding: "json", body: JSON.parse(answered), bytes: new TextEncoder().encode(answered).byteLength, truncated: false });
      expect(JSON.stringify(entry)).not.toContain(key);
    });

    it("cuts media over 1 MB at 1 MB, flagged truncated, with its whole size in bytes", async () => {
      const media = silentWav(40);
      expect(media.byteLength).toBeGreaterThan(PAYLOAD_LOG_CAP_BYTES);
      const { logId } = await vad(media);
      const entry = await loggedEntry(logId);
      expect(entry.request).toEqual({
        encoding: "base64",
        body: base64(media.subarray(0, PAYLOAD_LOG_CAP_BYTES)),
        bytes: media.byteLength,
        truncated: true,
        content_type: "audio/wav",
      });
      expect(entry.response).toMatchObject({ encoding: "json", body: { segments: [], duration: 40 }, truncated: false });
    });
  });
});
