/**
 * @module Alert rules as the admin API takes them (`PUT /admin/alerts/{name}`, snake_case as on
 * the wire) and what the Alerts object answers about them. Shares are fractions from 0 to 1.
 */

interface RuleBase {
  /** Where `{"alert", "status", "value", "threshold", "at"}` is POSTed: https, or http on loopback only. */
  webhook: string;
}

/** A tier's share of requests answered within their deadline (2xx among 2xx and 5xx) under `threshold` over the window. */
export interface SloRule extends RuleBase {
  kind: "slo";
  tier: string;
  threshold: number;
  window_seconds: number;
  /** Fewer answers than this in the window: the rule does not hold (no traffic is no breach). */
  min_requests: number;
  model?: string;
}

/** The share of 5xx answers among all answers over the window above `threshold`. */
export interface ErrorRateRule extends RuleBase {
  kind: "error_rate";
  threshold: number;
  window_seconds: number;
  min_requests: number;
  tier?: string;
  model?: string;
}

/** An origin (one, or any) failing its readiness check for `for_seconds` or longer. */
export interface OriginDownRule extends RuleBase {
  kind: "origin_down";
  for_seconds: number;
  origin?: string;
}

export type AlertRule = SloRule | ErrorRateRule | OriginDownRule;

export interface AlertState {
  firing: boolean;
  /** When it last started or stopped holding (epoch ms); undefined before its first change. */
  since: number | undefined;
  /** The value at the last evaluation; null when there was nothing to measure (no traffic in the window). */
  value: number | null;
  evaluatedAt: number | undefined;
}

export interface AlertView {
  name: string;
  rule: AlertRule;
  state: AlertState;
}

/** The webhook's body. */
export interface AlertNotice {
  alert: string;
  status: "firing" | "resolved";
  value: number | null;
  threshold: number;
  /** ISO 8601, the evaluation that saw the change. */
  at: string;
}

/** The one Alerts object's name: every rule is evaluated in one place, against the one Metrics object. */
export const ALERTS_NAME = "alerts";
/** The longest window a rule may ask for; the object keeps snapshots this far back. */
export const MAX_WINDOW_SECONDS = 3_600;
