/** Undo steps run last-in first-out, each at most once, each failure reported and survived. */
export class CleanupStack {
  readonly #steps: { label: string; undo: () => unknown }[] = [];

  push(label: string, undo: () => unknown): void {
    this.#steps.push({ label, undo });
  }

  async runAll(): Promise<void> {
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      try {
        await step.undo();
      } catch (err) {
        console.error(`cleanup: ${step.label} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
