/**
 * @module The response cache's key: SHA-256 over everything an answer depends on, so two requests
 * share an entry only when the model would answer them byte for byte alike.
 *
 * - the model's name, version and the sha256 of its bytes: a version deleted and uploaded again
 *   with other bytes never meets the old answers;
 * - the variant (`parameters.variant`, else `default`) and the sha256 of its bytes: a variant
 *   deleted, or deleted and uploaded again with other bytes, never meets the old answers;
 * - the outputs the answer holds, in order, each with its JSON or binary choice;
 * - the inputs in canonical form: sorted by name, each its name, datatype, shape and data as the
 *   parser left it (typed-array bytes, little-endian as the wire; strings length-prefixed UTF-8),
 *   so the same tensors sent as JSON or with the binary extension give the same key;
 * - the tenant, when the version's scope is `tenant`.
 *
 * The request's `id` is not in it: it is echoed in the answer, which the cache rewrites (answer-bytes.ts).
 * The bytes are streamed through a DigestStream, so a 16 MB input is never copied whole again.
 */
import type { ModelVersionRecord, ResponseCacheSetting } from "../../protocol/model-record.ts";
import { hex } from "../../protocol/sha256.ts";
import type { RequestedOutput, Tensor } from "../../protocol/oip/tensor.ts";
import { requestedVariant } from "../placement/variant-choice.ts";

/** A variant by name and bytes. */
export interface CachedVariant {
  name: string;
  sha256: string;
}

export interface AnswerKeyParts {
  model: Pick<ModelVersionRecord, "name" | "version" | "sha256">;
  setting: ResponseCacheSetting;
  variant: CachedVariant;
  outputs: readonly RequestedOutput[];
  inputs: readonly Tensor[];
  tenant: string;
}

const utf8 = new TextEncoder();

/**
 * The variant whose answers a request may take from the cache, and whose answers it keeps: the
 * one it pins, else `default` (`auto` included: the default's answer is the one it would rather
 * have; one a variant gave it under degradation is not kept). A variant the version does not
 * have (deleted since) or a `parameters.variant` that names none is the 400 serving would give,
 * before any entry is looked at.
 */
export function cachedVariantOf(model: ModelVersionRecord, parameters: Record<string, unknown>): CachedVariant {
  const requested = requestedVariant(model, parameters);
  return requested.kind === "pinned" ? { name: requested.variant.variant, sha256: requested.variant.sha256 } : { name: "default", sha256: model.sha256 };
}

/** The hex SHA-256 of the parts. */
export async function answerKey(parts: AnswerKeyParts): Promise<string> {
  const inputs = [...parts.inputs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // The preamble fixes every boundary (names, datatypes, shapes, data lengths), so the bytes after it cannot be read two ways.
  const preamble = {
    model: parts.model.name,
    version: parts.model.version,
    sha256: parts.model.sha256,
    variant: [parts.variant.name, parts.variant.sha256],
    outputs: parts.outputs.map((o) => [o.name, o.binary]),
    inputs: inputs.map((t) => [t.name, t.datatype, t.shape, dataBytesLength(t)]),
    tenant: parts.setting.scope === "tenant" ? parts.tenant : null,
  };
  const digest = new crypto.DigestStream("SHA-256");
  const writer = digest.getWriter();
  await writer.write(utf8.encode(JSON.stringify(preamble)));
  for (const tensor of inputs) for (const chunk of dataChunks(tensor)) await writer.write(chunk);
  await writer.close();
  return hex(await digest.digest);
}

function dataBytesLength(tensor: Tensor): number {
  let total = 0;
  for (const chunk of dataChunks(tensor)) total += chunk.byteLength;
  return total;
}

/** The tensor's data as bytes: a view for typed arrays; for strings, each one's length (4 bytes) and UTF-8. */
function* dataChunks(tensor: Tensor): Generator<Uint8Array> {
  const data = tensor.data;
  if (!Array.isArray(data)) {
    yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return;
  }
  for (const text of data) {
    const bytes = utf8.encode(text);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.byteLength, true);
    yield length;
    yield bytes;
  }
}
