/**
 * GET /metrics: the process's event series (reconcile and spawn latency, API requests) and
 * gauges read now: Jobs by phase, as `joblet get jobs` would count them, and the daemon's
 * work queue depths.
 */
import type { StateLayout } from "../store/index.js";
import { listObjects } from "../cli/objects.js";
import { Gauge, processMetrics } from "../metrics/index.js";

export const JOB_PHASES = ["Pending", "Scheduled", "Running", "Succeeded", "Failed"];

export async function metricsText(layout: StateLayout, queueDepths: () => Record<string, number>): Promise<string> {
  const phases = new Map(JOB_PHASES.map((p) => [p, 0]));
  for (const { object } of await listObjects(layout, "Job")) {
    const phase = typeof object.status.phase === "string" ? object.status.phase : "Unknown";
    phases.set(phase, (phases.get(phase) ?? 0) + 1);
  }
  const jobs = new Gauge("joblet_jobs", "Jobs by phase.", () => [...phases].map(([phase, value]) => ({ labels: { phase }, value })));
  const queues = new Gauge("joblet_queue_depth", "Objects waiting in a controller's work queue.", () =>
    Object.entries(queueDepths()).map(([queue, value]) => ({ labels: { queue }, value })),
  );
  return jobs.render() + queues.render() + processMetrics.render();
}
