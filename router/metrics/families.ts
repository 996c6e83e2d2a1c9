/**
 * @module Every metric `GET /metrics` exposes: its name, type, HELP text and, for histograms,
 * bucket bounds. Names and meanings follow Triton's where they map (`nv_inference_*`), in
 * seconds rather than Triton's microseconds, as Prometheus's own conventions ask.
 */

export type MetricType = "counter" | "histogram" | "gauge";

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  /** Upper bounds of the histogram's buckets, ascending (+Inf is added). */
  buckets?: readonly number[];
}

/** Seconds from 1 ms to 10 s (the longest deadline a tier allows). */
const DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Rows per run: powers of two up to the largest max_batch a demo model has, and past it. */
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] as const;

export const FAMILIES = {
  requests: {
    name: "hotpath_requests_total",
    type: "counter",
    help: "Inference, function and stream-open requests answered, by model, version, tier, status, placement (edge, origin, cache, none) and function, plus variant when one answered (Triton: nv_inference_request_success + nv_inference_request_failure).",
  },
  requestDuration: {
    name: "hotpath_request_duration_seconds",
    type: "histogram",
    help: "Time from the router receiving a request to its answer, by model, tier and function (Triton: nv_inference_request_duration_us).",
    buckets: DURATION_BUCKETS_S,
  },
  queueDuration: {
    name: "hotpath_queue_duration_seconds",
    type: "histogram",
    help: "Time a model call waited in a ModelHost queue (batch fill included), by model and tier (Triton: nv_inference_queue_duration_us).",
    buckets: DURATION_BUCKETS_S,
  },
  inferenceDuration: {
    name: "hotpath_inference_duration_seconds",
    type: "histogram",
    help: "Time of the model run (session.run, or a job's whole loop) a call was part of, by model and tier (Triton: nv_inference_compute_infer_duration_us).",
    buckets: DURATION_BUCKETS_S,
  },
  batchSize: {
    name: "hotpath_batch_size",
    type: "histogram",
    help: "Rows in the run each edge model call was part of, by model (Triton: nv_inference_exec_count against nv_inference_count).",
    buckets: BATCH_SIZE_BUCKETS,
  },
  refusals: {
    name: "hotpath_refusals_total",
    type: "counter",
    help: "429, 503 and 504 answers by reason: rate, in_flight, router_early, deadline, queue_full, shed, input_budget, body_budget, unavailable (another 503), tenant_limit (another 429).",
  },
  spills: {
    name: "hotpath_spills_total",
    type: "counter",
    help: "Requests of auto models sent from the edge to the origin pool, by model, tier and reason (backlog, refused).",
  },
  cacheRequests: {
    name: "hotpath_cache_requests_total",
    type: "counter",
    help: "OIP inferences of versions uploaded with cache_ttl_seconds, by model, version and result (hit: answered from the edge cache; miss: run and kept) (Triton: nv_cache_num_hits_per_model, nv_cache_num_misses_per_model).",
  },
  degraded: {
    name: "hotpath_degraded_total",
    type: "counter",
    help: "Requests served by a cheaper variant because the default could not make it, by model, version, variant and reason (deadline, unavailable, refused).",
  },
  coldLoads: {
    name: "hotpath_cold_loads_total",
    type: "counter",
    help: "Model calls that waited for their ModelHost to load the session (a cold start), by model and version.",
  },
  queueLength: {
    name: "hotpath_queue_length",
    type: "gauge",
    help: "Requests queued at a ModelHost now, by model, region and replica (Triton: nv_inference_pending_request_count).",
  },
  sessionsLoaded: { name: "hotpath_sessions_loaded", type: "gauge", help: "Warm sessions a ModelHost holds now, by model, region and replica." },
  hostMemory: {
    name: "hotpath_host_memory_bytes",
    type: "gauge",
    help: "Memory a ModelHost counts its sessions as holding now (HOST_MEMORY_BUDGET_MB bounds it), by model, region and replica.",
  },
  hostUp: { name: "hotpath_host_up", type: "gauge", help: "1 when a ModelHost that answered requests recently reported its state at this scrape, else 0." },
  hostsNotScraped: {
    name: "hotpath_hosts_not_scraped",
    type: "gauge",
    help: "ModelHosts that answered requests in the last 15 minutes and were not asked for their gauges at this scrape (over METRICS_MAX_HOSTS_PER_SCRAPE, the least recently seen).",
  },
  originUp: {
    name: "hotpath_origin_up",
    type: "gauge",
    help: "1 when an origin passes its health check and its breaker is not open, as the scraped isolate sees it.",
  },
  streamsOpen: { name: "hotpath_streams_open", type: "gauge", help: "Live vad streams open now, by tier (the tenants' StreamSlots)." },
} as const satisfies Record<string, MetricFamily>;

export type FamilyKey = keyof typeof FAMILIES;
