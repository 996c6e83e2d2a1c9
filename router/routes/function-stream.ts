/**
 * @module `GET /v1/functions/vad/stream?sample_rate=16000`: the live `vad` stream over a
 * WebSocket. Everything that can refuse a stream is answered here as a plain HTTP error
 * (`{"error"}`) before the upgrade: the key (as `Authorization: Bearer`, or for browsers, which
 * cannot set headers on a WebSocket, as the subprotocol `bearer.<key>` offered beside
 * `hotpath.v1`), the right to use silero-vad (403), the tier's rate (429), the sample rate and
 * the options (400), the host's early refusal (503), and the tenant's open streams against the
 * tier's `maxConcurrentStreams` (429, counted by a StreamSlots object per tenant). The upgrade
 * then goes to a new VadStream object, which holds the stream (durable-objects/vad-stream/).
 * The server selects `hotpath.v1`; the key is never echoed.
 */
import { Hono, type Context } from "hono";
import { tierConfig } from "../../config/tiers.ts";
import { STREAM_PROTOCOL, STREAM_SETUP_HEADER, type VadStreamSetup } from "../../durable-objects/vad-stream/contract.ts";
import { parseOptions } from "../../functions/options.ts";
import type { VadOptions } from "../../functions/vad/segments.ts";
import { sileroVadLoop } from "../../functions/vad/silero.ts";
import { STREAM_MAX_RATE, STREAM_MIN_RATE } from "../../functions/vad/stream-audio.ts";
import { VAD_OPTIONS } from "../../functions/vad/answer.ts";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { bearerToken } from "../../protocol/http/bearer.ts";
import type { AppEnv } from "../app-env.ts";
import { admitTenant } from "../admission/tenant-limits.ts";
import { tenantAuthFrom } from "../middleware/tenant-auth.ts";
import { mayUseModel } from "../tenants/records.ts";
import { placeModel } from "./serve-work.ts";

const BEARER_PROTOCOL_PREFIX = "bearer.";

export const functionStreamRoutes = new Hono<AppEnv>();

const streamAuth = tenantAuthFrom(
  (c) => bearerToken(c.req.header("authorization")) ?? protocolKey(offeredProtocols(c)),
  `send Authorization: Bearer <key>, or offer the subprotocols ${STREAM_PROTOCOL} and ${BEARER_PROTOCOL_PREFIX}<key>`,
);

functionStreamRoutes.get("/v1/functions/vad/stream", streamAuth, openStream);

async function openStream(c: Context<AppEnv>): Promise<Response> {
  const arrivedAt = Date.now();
  const tenant = c.get("tenant");
  const tier = tierConfig(tenant.tier);
  const model = sileroVadLoop.model;
  if (!mayUseModel(tenant, model)) throw new HttpError(403, `this key may not use model '${model}', which the vad stream runs`);
  // Opening a stream counts against the tier's rate like any call; what it holds open is bounded by the stream slots below.
  admitTenant(tenant.id, tier, arrivedAt)();
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw badRequest("this route opens a WebSocket: send Upgrade: websocket");
  const offered = offeredProtocols(c);
  if (offered.length > 0 && !offered.includes(STREAM_PROTOCOL)) throw badRequest(`offer the subprotocol ${STREAM_PROTOCOL}`);
  const query = new URL(c.req.url).searchParams;
  const sampleRate = sampleRateOf(query.getAll("sample_rate"));
  query.delete("sample_rate");
  const options = parseOptions<VadOptions & Record<string, number>>("vad", VAD_OPTIONS, query);
  const placed = await placeModel(c, tier, model, undefined, arrivedAt);
  if (placed.plan.where !== "edge") throw new HttpError(503, `model '${model}' runs on the origin pool now, and a stream runs only next to an edge host`, 30);

  const id = c.env.VAD_STREAM.newUniqueId();
  const streamId = id.toString();
  const maxLifetimeMs = 2 * tier.maxStreamSeconds * 1000;
  const slots = c.env.STREAM_SLOTS.getByName(tenant.id);
  // The lease outlives any stream (its wall-clock bound plus one idle alarm), so only a lost stream's slot ever expires.
  const claim = await slots.claim(streamId, tier.maxConcurrentStreams, maxLifetimeMs + tier.streamIdleTimeoutMs);
  if (!claim.ok) {
    throw new HttpError(429, `this tenant has ${claim.open} live streams open, its tier's limit is ${tier.maxConcurrentStreams}: close one first`, 5);
  }
  const setup: VadStreamSetup = {
    streamId,
    tenant: tenant.id,
    priority: tier.priority,
    maxQueueWaitMs: tier.maxQueueWaitMs,
    windowDeadlineMs: tier.defaultDeadlineMs,
    model: placed.model,
    host: { name: placed.plan.host.name, region: placed.plan.host.region },
    sampleRate,
    options,
    maxInputSamples: tier.maxStreamSeconds * sampleRate,
    idleTimeoutMs: tier.streamIdleTimeoutMs,
    maxLifetimeMs,
    selectProtocol: offered.length > 0,
  };
  try {
    // Only what the stream needs travels on: never the caller's key, in a header or a subprotocol.
    const upgrade = await c.env.VAD_STREAM.get(id).fetch(
      new Request(c.req.url, { headers: { upgrade: "websocket", [STREAM_SETUP_HEADER]: JSON.stringify(setup) } }),
    );
    // A fetched response's headers are immutable; the app's middleware adds Server-Timing to it.
    return new Response(null, { status: upgrade.status, webSocket: upgrade.webSocket, headers: new Headers(upgrade.headers) });
  } catch (error) {
    await slots.release(streamId);
    console.error("opening a vad stream failed", error);
    throw new HttpError(503, "the stream could not be opened now, try again", 1);
  }
}

/** The subprotocols the client offered (`Sec-WebSocket-Protocol`, comma-separated). */
function offeredProtocols(c: Context<AppEnv>): string[] {
  return (c.req.header("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
}

function protocolKey(offered: string[]): string | undefined {
  return offered.find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX))?.slice(BEARER_PROTOCOL_PREFIX.length);
}

function sampleRateOf(values: string[]): number {
  if (values.length === 0) return 16000;
  const raw = values[0]!;
  const rate = /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (values.length > 1 || !(rate >= STREAM_MIN_RATE && rate <= STREAM_MAX_RATE)) {
    throw badRequest(`sample_rate must be one whole number of Hz from ${STREAM_MIN_RATE} to ${STREAM_MAX_RATE}, got '${raw.slice(0, 16)}'`);
  }
  return rate;
}
