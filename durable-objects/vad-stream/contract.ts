/**
 * @module What the router hands a VadStream when it opens one: everything the stream needs for
 * its whole life (who the caller is, where Silero runs, the audio's rate, the options, the tier's
 * bounds), fixed before the upgrade, so the stream makes no lookup and a hibernated stream finds
 * it again in its storage.
 */
import type { VadOptions } from "../../functions/vad/segments.ts";
import type { ScheduledModel } from "../../scheduler/contract.ts";

/** The internal header the router sends the setup in, on the upgrade request it forwards to the stream. */
export const STREAM_SETUP_HEADER = "x-hotpath-stream-setup";
/** The subprotocol a client offers (beside `bearer.<key>` in a browser) and the server selects. */
export const STREAM_PROTOCOL = "hotpath.v1";

export interface VadStreamSetup {
  streamId: string;
  /** The tenant, for the host's fair share and for its stream slots (stream-slots.ts). */
  tenant: string;
  priority: number;
  maxQueueWaitMs: number;
  /** Each window's deadline, from when it is sent to the host: the tier's default deadline. */
  windowDeadlineMs: number;
  model: ScheduledModel;
  /** The ModelHost replica the router placed Silero on: `<region>:<model>:<replica>`. */
  host: { name: string; region: string };
  sampleRate: number;
  options: VadOptions;
  /** The tier's bounds: input samples at `sampleRate`, the idle time, the wall-clock life. */
  maxInputSamples: number;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  /** Whether the client offered the subprotocol, so the upgrade selects it. */
  selectProtocol: boolean;
}

/** WebSocket close codes the stream uses (RFC 6455 section 7.4.1). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policy: 1008,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;
