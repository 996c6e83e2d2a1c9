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
 * the wall-clock life (the alarm, which hibernation keeps; a timer would not survive it). Messages
 * waiting their turn are bounded too (MAX_BACKLOG_BYTES): workerd hands the object every message
 * as it arrives, so a client sending faster than its windows run would otherwise pile them up in
 * the object's memory. Once the stream has ended (closed by either side) no window of it runs
 * and nothing of it is stored again.
 *
 * What is stored after a message stays small however long the stream: the stream's state less
 * its completed speech spans, which grow with it and are stored apart, each message's new ones
 * under a key of their own (SPANS_PREFIX). While the object is awake its LiveVad stays in memory;
 * a woken one rebuilds it from storage.
 */
import { DurableObject } from "cloudflare:workers";
import type { ModelRun } from "../../functions/contract.ts";
import { LiveVad, type LiveVadSnapshot } from "../../functions/vad/live.ts";
import type { SampleSpan, SpeechEvent } from "../../functions/vad/segments.ts";
import { HttpError } from "../../protocol/errors.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import { CLOSE, STREAM_PROTOCOL, STREAM_SETUP_HEADER, type VadStreamSetup } from "./contract.ts";

interface Stored {
  setup: VadStreamSetup;
  /** LiveVad's state without its completed spans (those are under SPANS_PREFIX). */
  live: LiveVadSnapshot | undefined;
  /** Completed spans stored under SPANS_PREFIX so far. */
  spansStored: number;
  openedAt: number;
  lastMessageAt: number;
}

/** Keys of the completed speech spans, each holding the ones a message completed, from the index its key names. */
export const SPANS_PREFIX = "spans:";
const spansKey = (index: number) => `${SPANS_PREFIX}${String(index).padStart(10, "0")}`;
/** Bytes of messages waiting to be handled: 2 MiB is a minute of 16 kHz audio, or 11 s of 96 kHz. */
export const MAX_BACKLOG_BYTES = 2 * 1024 * 1024;

export class VadStream extends DurableObject<Env> {
  /** Read from storage on first use after a wake; undefined once the stream has ended. */
  #stored: Stored | undefined;
  #ended = false;
  /** Messages are handled one at a time, in order: each window needs the state of the one before. */
  #queue: Promise<void> = Promise.resolve();
  #backlogBytes = 0;
  /** The stream's LiveVad while the object is awake; rebuilt from storage after a wake. */
  #live: LiveVad | undefined;

  override async fetch(request: Request): Promise<Response> {
    const setup = JSON.parse(request.headers.get(STREAM_SETUP_HEADER) ?? "null") as VadStreamSetup | null;
    if (!setup || request.headers.get("upgrade")?.toLowerCase() !== "websocket")
      return new Response("a stream opens only by the router's upgrade", { status: 400 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    const now = Date.now();
    this.#stored = { setup, live: undefined, spansStored: 0, openedAt: now, lastMessageAt: now };
    await this.ctx.storage.put("stream", this.#stored);
    await this.ctx.storage.setAlarm(now + Math.min(setup.idleTimeoutMs, setup.maxLifetimeMs));
    return new Response(null, { status: 101, webSocket: client, headers: setup.selectProtocol ? { "sec-websocket-protocol": STREAM_PROTOCOL } : {} });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (this.#ended) return Promise.resolve();
    const bytes = typeof message === "string" ? message.length : message.byteLength;
    if (this.#backlogBytes + bytes > MAX_BACKLOG_BYTES) {
      return this.#fail(
        ws,
        CLOSE.policy,
        `the stream sends faster than it is processed: more than ${MAX_BACKLOG_BYTES} bytes wait; send audio at about real time`,
      );
    }
    this.#backlogBytes += bytes;
    this.#queue = this.#queue.then(() => this.#handle(ws, message)).finally(() => void (this.#backlogBytes -= bytes));
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
    try {
      const live = (this.#live ??= new LiveVad(stored.setup.sampleRate, stored.setup.options, this.#modelRun(stored.setup), await this.#resumed(stored)));
      if (typeof message === "string") return await this.#command(ws, live, message);
      const adding = live.samplesIn(message.byteLength);
      if (live.inputSamples + adding > stored.setup.maxInputSamples) {
        const seconds = stored.setup.maxInputSamples / stored.setup.sampleRate;
        return await this.#fail(ws, CLOSE.policy, `the stream passed its tier's ${seconds} s of audio; send {"type":"end"} before it`);
      }
      const events = await live.push(new Uint8Array(message));
      if (this.#ended) return; // closed while its windows ran: nothing of it is sent or stored again
      send(ws, events);
      await this.#save(stored, live);
    } catch (error) {
      if (!this.#ended) await this.#hostFailed(ws, error);
    }
  }

  /** The state after a message: the new completed spans under a key of their own, the rest (small) under `stream`, in one write. */
  async #save(stored: Stored, live: LiveVad): Promise<void> {
    const entries: Record<string, unknown> = {};
    if (live.spanCount > stored.spansStored) {
      entries[spansKey(stored.spansStored)] = live.spansFrom(stored.spansStored);
      stored.spansStored = live.spanCount;
    }
    stored.live = live.snapshot(false);
    entries.stream = stored;
    await this.ctx.storage.put(entries);
  }

  /** The stored state with its spans put back, for a LiveVad to resume from; undefined before the first message. */
  async #resumed(stored: Stored): Promise<LiveVadSnapshot | undefined> {
    if (!stored.live) return undefined;
    const blocks = await this.ctx.storage.list<SampleSpan[]>({ prefix: SPANS_PREFIX });
    const spans = [...blocks.values()].flat();
    return { ...stored.live, segmenter: { ...stored.live.segmenter, spans } };
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
    this.#live = undefined;
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
      // The client went away (or the stream failed) while a message's windows ran: the rest are not run.
      if (this.#ended) throw new HttpError(499, "the stream has ended");
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
