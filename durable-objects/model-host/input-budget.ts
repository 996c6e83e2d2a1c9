/**
 * @module The bytes of input tensors (and jobs' payloads, such as a clip's samples) a ModelHost
 * holds for the requests it has accepted and not yet answered, queued or running. The queue's
 * length alone does not bound them: 128 requests of a few rows and 128 of MAX_TENSOR_ELEMENTS each
 * are the same length and a thousand times apart in memory, and the isolate has 128 MB for
 * everything. A request that would take the total over the budget is refused at once; its bytes
 * are released however it ends (answered, failed, cancelled, shed, timed out), since every one of
 * those settles the work it wraps. Each request's bytes are kept by owner, so the host can tell
 * what shedding could free, and which tenant of a tier holds more than its share.
 */
import { payloadTooLarge, refusal } from "../../protocol/errors.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";

const MB = 1024 * 1024;

/** Whose bytes they are: the request, its tier's priority and its tenant. */
export interface InputOwner {
  requestId: string;
  priority: number;
  tenant: string;
}

/** One hold: its owner, its bytes, and whether its request was shed (its bytes leave a turn later). */
interface Held extends InputOwner {
  bytes: number;
  shed: boolean;
}

export class InputBudget {
  readonly budgetBytes: number;
  #heldBytes = 0;
  /** Bytes of requests shed and not yet released: about to leave, so counted as room already. */
  #shedBytes = 0;
  /** Each hold, in the order they were taken. */
  readonly #held = new Set<Held>();

  constructor(budgetBytes: number) {
    this.budgetBytes = budgetBytes;
  }

  /** Bytes of the inputs accepted and not answered yet. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Bytes held less those of requests shed, whose release is a turn away: what admission counts. */
  get liveBytes(): number {
    return this.#heldBytes - this.#shedBytes;
  }

  /** Bytes of queued (`queued(requestId)`) requests less important than `priority`: what shedding them could free. */
  queuedBelow(priority: number, queued: (requestId: string) => boolean): number {
    let total = 0;
    for (const held of this.#held) if (!held.shed && held.priority > priority && queued(held.requestId)) total += held.bytes;
    return total;
  }

  /**
   * The tenant of `priority`'s tier, other than `tenant`, holding the most bytes (queued or
   * running), when that is more than half the budget: those bytes, the part still queued, and its
   * queued requests, newest first (what to shed first).
   */
  overShare(
    priority: number,
    tenant: string,
    queued: (requestId: string) => boolean,
  ): { bytes: number; queuedBytes: number; requestIds: string[] } | undefined {
    const byTenant = new Map<string, { bytes: number; queuedBytes: number; requestIds: string[] }>();
    for (const held of this.#held) {
      if (held.shed || held.priority !== priority || held.tenant === tenant) continue;
      const entry = byTenant.get(held.tenant) ?? { bytes: 0, queuedBytes: 0, requestIds: [] };
      entry.bytes += held.bytes;
      if (queued(held.requestId)) {
        entry.queuedBytes += held.bytes;
        entry.requestIds.unshift(held.requestId);
      }
      byTenant.set(held.tenant, entry);
    }
    const most = [...byTenant.values()].sort((a, b) => b.bytes - a.bytes)[0];
    return most && most.bytes > this.budgetBytes / 2 ? most : undefined;
  }

  /** The request was shed: its bytes count as room now, though they leave only as its refusal settles. */
  markShed(requestId: string): void {
    for (const held of this.#held) {
      if (held.requestId !== requestId || held.shed) continue;
      held.shed = true;
      this.#shedBytes += held.bytes;
    }
  }

  /**
   * Runs `work` (the request's whole life on the host) with `bytes` counted; refuses with 503 and
   * `retryAfterSeconds()` when they would take the total over the budget, and with 413 when they
   * alone are over it (waiting would not help).
   * @example await budget.hold(inputBytesOf(call.inputs), call, () => 1, () => scheduler.submit(call))
   */
  async hold<T>(bytes: number, owner: InputOwner, retryAfterSeconds: () => number, work: () => Promise<T>): Promise<T> {
    if (bytes > this.budgetBytes)
      throw payloadTooLarge(`the request's inputs (${toMB(bytes)} MB) are more than a model host can hold (${toMB(this.budgetBytes)} MB)`);
    if (this.liveBytes + bytes > this.budgetBytes) {
      throw refusal(
        503,
        `the model host holds too many queued inputs: ${toMB(this.liveBytes)} MB waiting, ${toMB(bytes)} MB more would pass its ${toMB(this.budgetBytes)} MB`,
        retryAfterSeconds(),
        "input_budget",
      );
    }
    this.#heldBytes += bytes;
    // Its own record: the caller's object may be reused, and each hold is released on its own.
    const held: Held = { requestId: owner.requestId, priority: owner.priority, tenant: owner.tenant, bytes, shed: false };
    this.#held.add(held);
    try {
      return await work();
    } finally {
      this.#heldBytes -= bytes;
      if (held.shed) this.#shedBytes -= bytes;
      this.#held.delete(held);
    }
  }
}

/**
 * What the inputs take in the host's memory: typed arrays their byte length; strings (BYTES) two
 * bytes per UTF-16 code unit, as a JavaScript engine may hold them.
 */
export function inputBytesOf(inputs: readonly Tensor[]): number {
  let total = 0;
  for (const { data } of inputs) total += Array.isArray(data) ? data.reduce((sum, text) => sum + 2 * text.length, 0) : data.byteLength;
  return total;
}

const toMB = (bytes: number): string => (bytes / MB).toFixed(bytes < MB ? 2 : 1);
