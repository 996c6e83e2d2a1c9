/**
 * @module The body of `PUT /admin/alerts/{name}`, checked field by field into an AlertRule: a 400
 * names what was wrong. Webhooks are held to the rule ORIGINS follows: https, or http only on
 * loopback (a notice crossing the network in clear could be read or forged on the way).
 */
import { isTier, TIER_NAMES } from "../../config/tiers.ts";
import { MAX_WINDOW_SECONDS, type AlertRule } from "../../durable-objects/alerts/contract.ts";
import { badRequest } from "../../protocol/errors.ts";
import { NAME_PATTERN } from "../../protocol/model-record.ts";
import { isLoopback } from "../../protocol/origins-var.ts";

const KINDS = ["slo", "error_rate", "origin_down"] as const;
const MIN_WINDOW_SECONDS = 10;
const MAX_FOR_SECONDS = 86_400;
const FIELDS: Record<(typeof KINDS)[number], readonly string[]> = {
  slo: ["kind", "webhook", "tier", "threshold", "window_seconds", "min_requests", "model"],
  error_rate: ["kind", "webhook", "tier", "threshold", "window_seconds", "min_requests", "model"],
  origin_down: ["kind", "webhook", "for_seconds", "origin"],
};

export const RULE_EXAMPLE = '{"kind": "error_rate", "threshold": 0.05, "window_seconds": 300, "webhook": "https://hooks.example.com/hotpath"}';

/** An AlertRule from a parsed JSON body; 400 with the reason otherwise. */
export function ruleFromBody(body: unknown): AlertRule {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest(`the body must be a JSON object such as ${RULE_EXAMPLE}`);
  const input = body as Record<string, unknown>;
  if (!KINDS.includes(input.kind as (typeof KINDS)[number])) throw badRequest(`kind must be one of ${KINDS.join(", ")}`);
  const kind = input.kind as (typeof KINDS)[number];
  const known = FIELDS[kind];
  const unknown = Object.keys(input).find((field) => !known.includes(field));
  if (unknown !== undefined) throw badRequest(`unknown field '${unknown.slice(0, 64)}' for kind ${kind}: its fields are ${known.join(", ")}`);
  const webhook = webhookOf(input.webhook);
  if (kind === "origin_down") {
    const origin = optionalName(input.origin, "origin");
    return { kind, webhook, for_seconds: wholeNumber(input.for_seconds, "for_seconds", 1, MAX_FOR_SECONDS), ...(origin === undefined ? {} : { origin }) };
  }
  const threshold = input.threshold;
  // An error rate cannot exceed 1, nor an SLO attainment fall under 0: a rule that can never fire is a mistake.
  if (typeof threshold !== "number" || !Number.isFinite(threshold) || threshold < 0 || threshold > 1 || threshold === (kind === "slo" ? 0 : 1)) {
    throw badRequest(`threshold must be a share ${kind === "slo" ? "above 0, at most 1" : "from 0, below 1"} (e.g. ${kind === "slo" ? "0.99" : "0.05"})`);
  }
  const window_seconds = wholeNumber(input.window_seconds, "window_seconds", MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS);
  const min_requests = input.min_requests === undefined ? 1 : wholeNumber(input.min_requests, "min_requests", 1, 1_000_000);
  const model = optionalName(input.model, "model");
  const tier = input.tier ?? (kind === "slo" ? "premium" : undefined);
  if (tier !== undefined && !isTier(tier)) throw badRequest(`tier must be one of ${TIER_NAMES.join(", ")}`);
  const scope = { ...(tier === undefined ? {} : { tier }), ...(model === undefined ? {} : { model }) };
  return kind === "slo"
    ? { kind, webhook, threshold, window_seconds, min_requests, tier: tier as string, ...scope }
    : { kind, webhook, threshold, window_seconds, min_requests, ...scope };
}

function webhookOf(raw: unknown): string {
  if (typeof raw !== "string" || raw.length > 2048) throw badRequest("webhook must be a URL (https://, or http:// on loopback), at most 2048 characters");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest(`webhook '${raw.slice(0, 80)}' is not a URL`);
  }
  if (url.protocol === "https:") return url.href;
  if (url.protocol === "http:" && isLoopback(url.hostname)) return url.href;
  throw badRequest(`webhook must be https:// (http:// only on loopback: 127.0.0.0/8, localhost, [::1]), got '${raw.slice(0, 80)}'`);
}

function wholeNumber(raw: unknown, name: string, min: number, max: number): number {
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < min || raw > max) throw badRequest(`${name} must be a whole number from ${min} to ${max}`);
  return raw;
}

function optionalName(raw: unknown, name: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !NAME_PATTERN.test(raw)) throw badRequest(`${name} must match ${NAME_PATTERN.source}`);
  return raw;
}
