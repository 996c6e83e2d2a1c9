/**
 * @module The hotpath edge Worker: the Hono router plus the Durable Object classes it binds.
 */
import { createApp } from "./app.ts";

export { ModelHost } from "../durable-objects/model-host/model-host.ts";
export { Alerts } from "../durable-objects/alerts/alerts.ts";
export { Metrics } from "../durable-objects/metrics/metrics.ts";
export { ModelRegistry } from "../durable-objects/model-registry/model-registry.ts";
export { StreamSlots } from "../durable-objects/vad-stream/stream-slots.ts";
export { VadStream } from "../durable-objects/vad-stream/vad-stream.ts";

export default createApp();
