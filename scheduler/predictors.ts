/**
 * @module A scheduler's service-time predictors, one per model bytes (sha256): a variant of a
 * version (other bytes, another cost) must not learn from the default's runs. Asked several times
 * per request, so keyed without building a string.
 */
import type { ScheduledModel } from "./contract.ts";
import { ServiceTimePredictor, type ServiceTimeSnapshot } from "./service-time.ts";

export class Predictors {
  readonly #byBytes = new Map<string, { label: string; predictor: ServiceTimePredictor }>();

  of(model: ScheduledModel): ServiceTimePredictor {
    let entry = this.#byBytes.get(model.sha256);
    if (!entry) this.#byBytes.set(model.sha256, (entry = { label: `${model.name}@${model.version}`, predictor: new ServiceTimePredictor() }));
    return entry.predictor;
  }

  /** Learned run times by `<model>@<version>`; bytes of a version other than the first seen (a variant) add `#<sha256 prefix>`. */
  snapshot(): Record<string, ServiceTimeSnapshot[]> {
    const times: Record<string, ServiceTimeSnapshot[]> = {};
    for (const [sha256, { label, predictor }] of this.#byBytes) times[label in times ? `${label}#${sha256.slice(0, 12)}` : label] = predictor.snapshot();
    return times;
  }
}
