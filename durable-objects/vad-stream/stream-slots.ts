/**
 * @module StreamSlots: one Durable Object per tenant that counts its open live streams, so the
 * tier's `maxConcurrentStreams` holds across every router isolate (an isolate's own count would
 * not). A stream claims a slot before its upgrade and releases it when it ends, however it ends.
 * Each claim also expires after a lease longer than any stream may live, so a stream whose
 * object was lost without releasing cannot hold a slot for ever.
 */
import { DurableObject } from "cloudflare:workers";

/** Stream id -> when its claim expires, epoch milliseconds. */
type Claims = Record<string, number>;

export interface SlotClaim {
  ok: boolean;
  /** Streams open now, this one included when it got its slot. */
  open: number;
}

export class StreamSlots extends DurableObject<Env> {
  async claim(streamId: string, max: number, leaseMs: number): Promise<SlotClaim> {
    const claims = await this.#live();
    if (Object.keys(claims).length >= max) return { ok: false, open: Object.keys(claims).length };
    claims[streamId] = Date.now() + leaseMs;
    await this.ctx.storage.put("claims", claims);
    return { ok: true, open: Object.keys(claims).length };
  }

  async release(streamId: string): Promise<void> {
    const claims = await this.#live();
    delete claims[streamId];
    await this.ctx.storage.put("claims", claims);
  }

  async open(): Promise<number> {
    return Object.keys(await this.#live()).length;
  }

  /** The claims not yet expired. */
  async #live(): Promise<Claims> {
    const now = Date.now();
    const claims = (await this.ctx.storage.get<Claims>("claims")) ?? {};
    for (const [id, expiresAt] of Object.entries(claims)) if (expiresAt <= now) delete claims[id];
    return claims;
  }
}
