/**
 * @module VadStream: one Durable Object per live `vad` stream (`GET /v1/functions/vad/stream`).
 * The router authenticates, checks and places the stream before the upgrade, then forwards the
 * upgrade here with the stream's setup (contract.ts). The socket is accepted with the WebSocket
 * Hibernation API, so an idle stream costs nothing: everything the stream carries (the setup,
 * the audio state of LiveVad, when it last heard from its client) is in storage after each
 * message, and a woken object reads it back.
 *
 * Each Silero window is one `infer` call to the ModelHost the router chose, through its normal
 * scheduler with the tenant, the tier's priority and a deadline: windows of many streams that
 * reach the host together run as one batch (Silero's state has a batch axis), as Triton's
 * sequence batcher does. A stream's own windows run one after another, each needing the state of
 * the one before, so messages are handled strictly in order.
 *
 * The tier's bounds: the seconds of audio (checked before a message is run), the idle time and
 * the wall-clock life (the alarm, which hibernation keeps; a timer would not survive it).
 */
import { DurableObject } from "cloudflare:workers";
import type { ModelRun } from "../../functions/contract.ts";
import { LiveVad, type LiveVadSnapshot } from "../../functions/vad/live.ts";
import type { SpeechEvent } from "../../functions/vad/segments.ts";
import { HttpError } from "../../protocol/errors.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import { CLOSE, STREAM_PROTOCOL, STREAM_SETUP_HEADER, type VadStreamSetup } from "./contract.ts";

interface Stored {
  setup: VadStreamSetup;
  live: LiveVadSnapshot | undefined;
  openedAt: number;
  lastMessageAt: number;
}

export class VadStream extends DurableObject<Env> {
  /** Read from storage on first use after a wake; undefined once the stream has ended. */
  #stored: Stored | undefined;
  #ended = false;
  /** Messages are handled one at a time, in order: each window needs the state of the one before. */
  #queue: Promise<void> = Promise.resolve();

  override async fetch(request: Request): Promise<Response> {
    const setup = JSON.parse(request.headers.get(STREAM_SETUP_HEADER) ?? "null") as VadStreamSetup | null;
    if (!setup || request.headers.get("upgrade")?.toLowerCase() !== "websocket")
      return new Response("a stream opens only by the router's upgrade", { status: 400 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    const now = Date.now();
    this.#stored = { setup, live: undefined, openedAt: now, lastMessageAt: now };
    await this.ctx.storage.put("stream", this.#stored);
    await this.ctx.storage.setAlarm(now + Math.min(setup.idleTimeoutMs, setup.maxLifetimeMs));
    return new Response(null, { status: 101, webSocket: client, headers: setup.selectProtocol ? { "sec-websocket-protocol": STREAM_PROTOCOL } : {} });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    this.#queue = this.#queue.then(() => this.#handle(ws, message));
    return this.#queue;
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    // The client closed first: answer its close (RFC 6455) and free the slot.
    await this.#end(ws, code === 1005 ? CLOSE.normal : code, "closed by the client");
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.#end(ws, CLOSE.internalError, "socket error");
  }

  /** The idle and lifetime bounds: closes the stream past either, else sets the alarm for the nearer one. */
  override async alarm(): Promise<void> {
    const stored = await this.#load();
    const ws = this.ctx.getWebSockets()[0];
    if (!stored || !ws) return this.#forget(stored);
    const { setup, openedAt, lastMessageAt } = stored;
    const now = Date.now();
    if (now - lastMessageAt >= setup.idleTimeoutMs) return this.#end(ws, CLOSE.goingAway, `idle: no message for ${setup.idleTimeoutMs / 1000} s`);
    if (now - openedAt >= setup.maxLifetimeMs) return this.#end(ws, CLOSE.policy, `the stream passed its tier's ${setup.maxLifetimeMs / 1000} s of wall time`);
    await this.ctx.storage.setAlarm(Math.min(lastMessageAt + setup.idleTimeoutMs, openedAt + setup.maxLifetimeMs));
  }

  async #handle(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const stored = await this.#load();
    if (!stored || this.#ended) return;
    stored.lastMessageAt = Date.now();
    const live = new LiveVad(stored.setup.sampleRate, stored.setup.options, this.#modelRun(stored.setup), stored.live);
    try {
      if (typeof message === "string") return await this.#command(ws, live, message);
      const adding = live.samplesIn(message.byteLength);
      if (live.inputSamples + adding > stored.setup.maxInputSamples) {
        const seconds = stored.setup.maxInputSamples / stored.setup.sampleRate;
        return await this.#fail(ws, CLOSE.policy, `the stream passed its tier's ${seconds} s of audio; send {"type":"end"} before it`);
      }
      send(ws, await live.push(new Uint8Array(message)));
      stored.live = live.snapshot();
      await this.ctx.storage.put("stream", stored);
    } catch (error) {
      await this.#hostFailed(ws, error);
    }
  }

  async #command(ws: WebSocket, live: LiveVad, text: string): Promise<void> {
    let command: unknown;
    try {
      command = JSON.parse(text);
    } catch {
      return this.#fail(ws, CLOSE.unsupportedData, 'text messages are JSON commands ({"type":"end"}); audio goes in binary messages');
    }
    const type = (command as { type?: unknown } | null)?.type;
    if (type !== "end")
      return this.#fail(ws, CLOSE.unsupportedData, `unknown command ${JSON.stringify(String(type)).slice(0, 40)}: the only one is {"type":"end"}`);
    const { events, answer } = await live.finish();
    send(ws, events);
    ws.send(JSON.stringify({ type: "done", ...answer }));
    await this.#end(ws, CLOSE.normal, "done");
  }

  /** A window the host refused or failed: the stream cannot go on without it. */
  async #hostFailed(ws: WebSocket, error: unknown): Promise<void> {
    if (error instanceof HttpError && error.status < 500) return this.#fail(ws, CLOSE.policy, error.message);
    if (error instanceof HttpError && (error.status === 503 || error.status === 504)) return this.#fail(ws, CLOSE.tryAgainLater, error.message);
    console.error("vad stream failed", error);
    await this.#fail(ws, CLOSE.internalError, "the stream failed on the server; open a new one");
  }

  async #fail(ws: WebSocket, code: number, error: string): Promise<void> {
    ws.send(JSON.stringify({ type: "error", error }));
    await this.#end(ws, code, error);
  }

  /** Closes the socket (once), frees the tenant's slot and forgets the stream. */
  async #end(ws: WebSocket, code: number, reason: string): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    const stored = await this.#load();
    try {
      // A close reason is at most 123 bytes.
      ws.close(code, reason.slice(0, 120));
    } catch {
      // Already closed by the other side.
    }
    await this.#forget(stored);
  }

  async #forget(stored: Stored | undefined): Promise<void> {
    if (stored) await this.env.STREAM_SLOTS.getByName(stored.setup.tenant).release(stored.setup.streamId);
    this.#stored = undefined;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  async #load(): Promise<Stored | undefined> {
    this.#stored ??= await this.ctx.storage.get<Stored>("stream");
    return this.#stored;
  }

  /** One Silero window on the chosen host, through its scheduler: batched there with other streams' windows. */
  #modelRun(setup: VadStreamSetup): ModelRun {
    const host = this.env.MODEL_HOST.get(this.env.MODEL_HOST.idFromName(setup.host.name), { locationHint: setup.host.region as DurableObjectLocationHint });
    return async (inputs, outputNames) => {
      const { tenant, priority, maxQueueWaitMs, model } = setup;
      const call = {
        model,
        inputs,
        outputNames,
        tenant,
        priority,
        maxQueueWaitMs,
        requestId: crypto.randomUUID(),
        deadline: Date.now() + setup.windowDeadlineMs,
      };
      return unwrapReply(await host.infer(call)).outputs;
    };
  }
}

function send(ws: WebSocket, events: SpeechEvent[]): void {
  for (const event of events) ws.send(JSON.stringify(event));
}
