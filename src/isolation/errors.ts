/**
 * A job spec that cannot run as written. Thrown before anything is created,
 * so callers (the Job controller) can report it on the object's status and
 * keep the last good spec.
 */
export class InvalidJobSpecError extends Error {
  constructor(jobId: string, reason: string) {
    super(`Cannot spawn job '${jobId}': ${reason}`);
    this.name = "InvalidJobSpecError";
  }
}
