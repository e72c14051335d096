/**
 * joblet's Prometheus series that events feed: reconcile and spawn latency, API requests.
 * They live for the process, as a Prometheus client's default registry does; gauges that
 * describe one daemon's state (jobs by phase, queue depth) are read when /metrics is served.
 */
import { Counter, Histogram, Registry } from "./registry.js";

export { Counter, Gauge, Histogram, Registry, CONTENT_TYPE } from "./registry.js";

// From 1 ms (a no-op reconcile) to 10 s (a runtime build step, a slow mount).
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const processMetrics = new Registry();

export const reconcileSeconds = processMetrics.register(
  new Histogram("joblet_reconcile_duration_seconds", "Time one reconcile of one object took, by controller.", LATENCY_BUCKETS, ["controller"]),
);

export const spawnSeconds = processMetrics.register(
  new Histogram("joblet_spawn_duration_seconds", "Time from asking the isolation engine for a run to its process running.", LATENCY_BUCKETS),
);

export const apiRequests = processMetrics.register(new Counter("joblet_api_requests_total", "Requests the remote API answered, by status code and method.", ["code", "method"]));
