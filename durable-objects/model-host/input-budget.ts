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

export class InputBudget {
  readonly budgetBytes: number;
  #heldBytes = 0;
  /** Each request's bytes, in the order they were taken. */
  readonly #held = new Map<InputOwner, number>();

  constructor(budgetBytes: number) {
    this.budgetBytes = budgetBytes;
  }

  /** Bytes of the inputs accepted and not answered yet. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Bytes held by requests less important than `priority` (queued or running): what shedding them could free at most. */
  heldBelow(priority: number): number {
    let total = 0;
    for (const [owner, bytes] of this.#held) if (owner.priority > priority) total += bytes;
    return total;
  }

  /**
   * The tenant of `priority`'s tier, other than `tenant`, holding the most bytes, when that is more
   * than half the budget: its bytes and its requests, newest first (what to shed first).
   */
  overShare(priority: number, tenant: string): { bytes: number; requestIds: string[] } | undefined {
    const byTenant = new Map<string, { bytes: number; requestIds: string[] }>();
    for (const [owner, bytes] of this.#held) {
      if (owner.priority !== priority || owner.tenant === tenant) continue;
      const entry = byTenant.get(owner.tenant) ?? { bytes: 0, requestIds: [] };
      entry.bytes += bytes;
      entry.requestIds.unshift(owner.requestId);
      byTenant.set(owner.tenant, entry);
    }
    const most = [...byTenant.values()].sort((a, b) => b.bytes - a.bytes)[0];
    return most && most.bytes > this.budgetBytes / 2 ? most : undefined;
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
    if (this.#heldBytes + bytes > this.budgetBytes) {
      throw refusal(
        503,
        `the model host holds too many queued inputs: ${toMB(this.#heldBytes)} MB waiting, ${toMB(bytes)} MB more would pass its ${toMB(this.budgetBytes)} MB`,
        retryAfterSeconds(),
        "input_budget",
      );
    }
    this.#heldBytes += bytes;
    // A copy as the key: the caller's object may be reused, and each hold is its own entry.
    const key = { requestId: owner.requestId, priority: owner.priority, tenant: owner.tenant };
    this.#held.set(key, bytes);
    try {
      return await work();
    } finally {
      this.#heldBytes -= bytes;
      this.#held.delete(key);
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
