import type { ReconcileResult } from "./controller.js";

/**
 * How long a manifest must stay gone before its object is torn down: a file
 * being rewritten may hold nothing for a moment, and that must not cost a
 * running job its run, or a runtime its build.
 */
export class RemovalGrace {
  private readonly missingSince = new Map<string, number>();

  constructor(private readonly graceMs: number) {}

  /** The manifest is missing: ms left to wait, or 0 when the object should go now (and is forgotten). */
  missing(name: string, now = Date.now()): number {
    const since = this.missingSince.get(name) ?? now;
    this.missingSince.set(name, since);
    const left = since + this.graceMs - now;
    if (left > 0) return left;
    this.missingSince.delete(name);
    return 0;
  }

  /** The manifest is missing: `remove` once the grace has passed; until then, when to look again. */
  async whenGone(name: string, remove: () => Promise<ReconcileResult | void>): Promise<ReconcileResult | void> {
    const left = this.missing(name);
    if (left > 0) return { requeueAfter: left };
    return remove();
  }

  /** The manifest is there (again). */
  present(name: string): void {
    this.missingSince.delete(name);
  }
}
