/**
 * A small Prometheus registry: counters and histograms with labels, rendered in the text
 * exposition format (version 0.0.4). Per process; each vault process is scraped on its own.
 */

type Labels = Record<string, string>;

function key(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(
      ([name, value]) =>
        `${name}="${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`,
    )
    .join(',');
}

/** A monotonically increasing count per label set. */
export class Counter {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, value] of this.#values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${value}`);
    return lines.join('\n');
  }
}

/** Observations in cumulative buckets, per label set. */
export class Histogram {
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const k = key(labels);
    let series = this.#series.get(k);
    if (!series) {
      series = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, series);
    }
    this.buckets.forEach((bound, index) => {
      if (value <= bound) series.counts[index]! += 1;
    });
    series.sum += value;
    series.count += 1;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, series] of this.#series) {
      const prefix = k ? `${k},` : '';
      for (const [index, bound] of this.buckets.entries()) {
        lines.push(`${this.name}_bucket{${prefix}le="${bound}"} ${series.counts[index]}`);
      }
      lines.push(`${this.name}_bucket{${prefix}le="+Inf"} ${series.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${series.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${series.count}`);
    }
    return lines.join('\n');
  }
}

/**
 * This process's memory and CPU, read when scraped, under the names Prometheus client libraries
 * use (process_*, nodejs_*), so standard dashboards find them.
 */
export function renderProcessMetrics(
  memory: NodeJS.MemoryUsage = process.memoryUsage(),
  cpu: NodeJS.CpuUsage = process.cpuUsage(),
): string {
  const gauges: [string, string, string, number][] = [
    ['process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', memory.rss],
    ['nodejs_heap_size_total_bytes', 'gauge', 'V8 heap size in bytes.', memory.heapTotal],
    ['nodejs_heap_size_used_bytes', 'gauge', 'V8 heap used in bytes.', memory.heapUsed],
    [
      'nodejs_external_memory_bytes',
      'gauge',
      'Memory of C++ objects bound to JavaScript (buffers included), in bytes.',
      memory.external,
    ],
    [
      'process_cpu_seconds_total',
      'counter',
      'User and system CPU time spent, in seconds.',
      (cpu.user + cpu.system) / 1e6,
    ],
  ];
  return `${gauges
    .map(
      ([name, type, help, value]) =>
        `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}`,
    )
    .join('\n')}\n`;
}

/** The vault's metrics. */
export class VaultMetrics {
  readonly requests = new Counter(
    'webkey_http_requests_total',
    'HTTP requests by method, route and status.',
  );
  readonly latency = new Histogram(
    'webkey_http_request_duration_seconds',
    'HTTP request latency by route.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  readonly redemptions = new Counter('webkey_redemptions_total', 'Successful web key redemptions.');
  readonly refusals = new Counter(
    'webkey_redemption_refusals_total',
    'Refused redemptions by reason.',
  );

  /** The exposition text. */
  render(): string {
    return `${[this.requests, this.latency, this.redemptions, this.refusals].map((m) => m.render()).join('\n')}\n`;
  }
}
