/**
 * A small Prometheus registry: counters and histograms with labels, gauges read when
 * scraped, written in the text exposition format (version 0.0.4). Enough for the handful
 * of series joblet exports, with no dependency.
 */

type Labels = Record<string, string>;

interface Series {
  render(): string;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(labels);
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return "";
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

// Labels in a fixed order make one key per combination whatever order callers pass them.
function keyOf(names: readonly string[], labels: Labels): string {
  return JSON.stringify(names.map((n) => labels[n] ?? ""));
}

function number(n: number): string {
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return Number.isNaN(n) ? "NaN" : String(n);
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${name} ${type}\n`;
}

export class Counter implements Series {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[] = [],
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(this.labelNames, labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels: pick(this.labelNames, labels), value: by });
  }

  render(): string {
    let out = header(this.name, this.help, "counter");
    for (const { labels, value } of this.values.values()) out += `${this.name}${labelText(labels)} ${number(value)}\n`;
    return out;
  }
}

/** A gauge whose values are read at scrape time (jobs by phase, queue depth). */
export class Gauge implements Series {
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly read: () => { labels: Labels; value: number }[],
  ) {}

  render(): string {
    let out = header(this.name, this.help, "gauge");
    for (const { labels, value } of this.read()) out += `${this.name}${labelText(labels)} ${number(value)}\n`;
    return out;
  }
}

export class Histogram implements Series {
  private readonly values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly buckets: readonly number[],
    private readonly labelNames: readonly string[] = [],
  ) {}

  observe(value: number, labels: Labels = {}): void {
    const key = keyOf(this.labelNames, labels);
    let entry = this.values.get(key);
    if (!entry) {
      entry = { labels: pick(this.labelNames, labels), counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.values.set(key, entry);
    }
    const i = this.buckets.findIndex((bound) => value <= bound);
    if (i !== -1) entry.counts[i]!++;
    entry.sum += value;
    entry.count++;
  }

  /** Observes the seconds `work` takes, whether it resolves or throws. */
  async time<T>(work: () => Promise<T>, labels: Labels = {}): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.observe((performance.now() - start) / 1000, labels);
    }
  }

  render(): string {
    let out = header(this.name, this.help, "histogram");
    for (const { labels, counts, sum, count } of this.values.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, i) => {
        cumulative += counts[i]!;
        out += `${this.name}_bucket${labelText(labels, ["le", number(bound)])} ${cumulative}\n`;
      });
      out += `${this.name}_bucket${labelText(labels, ["le", "+Inf"])} ${count}\n`;
      out += `${this.name}_sum${labelText(labels)} ${number(sum)}\n`;
      out += `${this.name}_count${labelText(labels)} ${count}\n`;
    }
    return out;
  }
}

function pick(names: readonly string[], labels: Labels): Labels {
  return Object.fromEntries(names.map((n) => [n, labels[n] ?? ""]));
}

export class Registry {
  private readonly series: Series[] = [];

  register<S extends Series>(series: S): S {
    this.series.push(series);
    return series;
  }

  /** The text exposition of every series, in registration order. */
  render(): string {
    return this.series.map((s) => s.render()).join("");
  }
}

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
