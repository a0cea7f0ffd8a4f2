// Once a second, per destination and endpoint: request rate over the last 10 s, active
// requests and connections. Keeps the last minutes as columns (what a chart such as uPlot
// draws) and works out each destination's imbalance, which the gauges and the warning read.
import type { Clock, TimerHandle } from "../core/clock.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import type { RpcStats } from "./rpc-stats.js";

export const SAMPLE_INTERVAL_MS = 1000;
/** The request rate is taken over this window, as the issue asks ("over the last 10 s"). */
export const RATE_WINDOW_MS = 10_000;
/** History kept for the dashboard: 5 minutes of 1 s samples. */
export const HISTORY_SAMPLES = 300;

/** One endpoint at one sample. */
export interface EndpointSample {
  /** RPCs per second that ended on the endpoint over the last RATE_WINDOW_MS (less at start). */
  readonly rps: number;
  readonly activeRequests: number;
  /** Upstream connections open or opening. */
  readonly connections: number;
  /** Downstream connections pinned to it (connection mode; 0 in request mode). */
  readonly pinnedConnections: number;
}

/** max / mean over a destination's endpoints; 1 = even, 0 = nothing to compare. */
export interface Imbalance {
  readonly activeRequests: number;
  readonly requestRate: number;
}

export interface DestinationSample {
  /** Wall-clock time of the sample (ms since the epoch), for the chart's x axis. */
  readonly t: number;
  readonly endpoints: ReadonlyMap<string, EndpointSample>;
  readonly imbalance: Imbalance;
}

/** What the sampler reads: the proxy's clusters as they are now. */
export interface SampleSource {
  clusters(): Iterable<ClusterRuntime>;
}

interface Totals {
  /** Monotonic time of the reading. */
  readonly at: number;
  readonly totals: ReadonlyMap<string, number>;
}

class DestinationHistory {
  readonly samples: DestinationSample[] = [];
  /** Cumulative totals per endpoint, one reading per sample, RATE_WINDOW_MS back at most. */
  readonly readings: Totals[] = [];
  constructor(readonly host: string) {}
}

export class Sampler {
  private readonly destinations = new Map<string, DestinationHistory>();
  private timer: TimerHandle | undefined;
  private readonly listeners: ((cluster: string, sample: DestinationSample) => void)[] = [];

  constructor(
    private readonly source: SampleSource,
    private readonly stats: RpcStats,
    private readonly clock: Clock,
    /** Wall clock for the samples' timestamps (injected with the clock in tests). */
    private readonly wallNow: () => number = Date.now,
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.sample(); // a first reading: rates start from here
    this.schedule();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Called with every destination's sample, right after it is taken. */
  onSample(listener: (cluster: string, sample: DestinationSample) => void): void {
    this.listeners.push(listener);
  }

  private schedule(): void {
    this.timer = this.clock.setTimer(SAMPLE_INTERVAL_MS, () => {
      this.sample();
      this.schedule();
    });
  }

  /** Takes one sample of every destination now (the timer calls it; tests may too). */
  sample(): void {
    const now = this.clock.now();
    const t = this.wallNow();
    const seen = new Set<string>();
    const live = new Map<string, Set<string>>();
    for (const cluster of this.source.clusters()) {
      const name = cluster.name;
      seen.add(name);
      live.set(name, new Set(cluster.endpointList().map((e) => e.key)));
      let h = this.destinations.get(name);
      if (h === undefined) {
        h = new DestinationHistory(cluster.config.host);
        this.destinations.set(name, h);
      }
      // Rates span RATE_WINDOW_MS at most.
      while (h.readings.length > 0 && now - h.readings[0]!.at > RATE_WINDOW_MS) h.readings.shift();
      const totals = new Map<string, number>();
      const endpoints = new Map<string, EndpointSample>();
      // Imbalance compares what balancing controls: endpoints in balancing (not ejected, not
      // failing health checks, unless in panic), each load divided by the endpoint's weight.
      const balanced: { readonly rps: number; readonly activeRequests: number }[] = [];
      for (const e of cluster.endpointList()) {
        const total = this.stats.endpointTotal(name, e.key);
        totals.set(e.key, total);
        // From the oldest reading in the window that has the endpoint (it may be new).
        const from = h.readings.find((r) => r.totals.has(e.key));
        const seconds = from === undefined ? 0 : (now - from.at) / 1000;
        // A counter never goes down; should it have been recreated, the rate starts afresh.
        const rps = seconds > 0 ? Math.max(0, total - from!.totals.get(e.key)!) / seconds : 0;
        endpoints.set(e.key, {
          rps,
          activeRequests: e.load.activeRequests,
          connections: cluster.existingPool(e.key)?.connectionCount ?? 0,
          pinnedConnections: e.load.activeConnections,
        });
        if (cluster.panic || cluster.isHealthy(e.key)) balanced.push({ rps: rps / e.weight, activeRequests: e.load.activeRequests / e.weight });
      }
      h.readings.push({ at: now, totals });
      const values = balanced;
      const sample: DestinationSample = {
        t,
        endpoints,
        imbalance: { activeRequests: maxOverMean(values.map((v) => v.activeRequests)), requestRate: maxOverMean(values.map((v) => v.rps)) },
      };
      h.samples.push(sample);
      if (h.samples.length > HISTORY_SAMPLES) h.samples.shift();
      for (const l of this.listeners) l(name, sample);
    }
    // Clusters a reload removed leave the history with their last sample.
    for (const name of this.destinations.keys()) if (!seen.has(name)) this.destinations.delete(name);
    // And the counters forget what is gone (the no-route pseudo-cluster stays).
    this.stats.prune(live, now);
  }

  latest(cluster: string): DestinationSample | undefined {
    const s = this.destinations.get(cluster)?.samples;
    return s?.[s.length - 1];
  }

  /**
   * The history as columns per destination, for a chart: `t` and, per endpoint, one value
   * per sample (null where the endpoint was not in the destination). `since` (epoch ms)
   * returns only later samples, so a page can poll for what is new.
   */
  history(since = 0): HistoryJson {
    const destinations: DestinationHistoryJson[] = [];
    for (const [cluster, h] of this.destinations) {
      const samples = h.samples.filter((s) => s.t > since);
      const keys = new Set<string>();
      for (const s of samples) for (const k of s.endpoints.keys()) keys.add(k);
      const column = (k: string, f: keyof EndpointSample): (number | null)[] => samples.map((s) => s.endpoints.get(k)?.[f] ?? null);
      destinations.push({
        cluster,
        host: h.host,
        t: samples.map((s) => s.t),
        imbalance: { activeRequests: samples.map((s) => s.imbalance.activeRequests), requestRate: samples.map((s) => s.imbalance.requestRate) },
        endpoints: [...keys].map((k) => ({
          endpoint: k,
          rps: column(k, "rps"),
          activeRequests: column(k, "activeRequests"),
          connections: column(k, "connections"),
          pinnedConnections: column(k, "pinnedConnections"),
        })),
      });
    }
    return { intervalMs: SAMPLE_INTERVAL_MS, rateWindowMs: RATE_WINDOW_MS, destinations };
  }
}

export interface HistoryJson {
  readonly intervalMs: number;
  readonly rateWindowMs: number;
  readonly destinations: readonly DestinationHistoryJson[];
}

export interface DestinationHistoryJson {
  readonly cluster: string;
  readonly host: string;
  readonly t: readonly number[];
  readonly imbalance: { readonly activeRequests: readonly number[]; readonly requestRate: readonly number[] };
  readonly endpoints: readonly {
    readonly endpoint: string;
    readonly rps: readonly (number | null)[];
    readonly activeRequests: readonly (number | null)[];
    readonly connections: readonly (number | null)[];
    readonly pinnedConnections: readonly (number | null)[];
  }[];
}

/** max / mean of the values; 0 when there are fewer than two or all are 0 (nothing to compare). */
export function maxOverMean(values: readonly number[]): number {
  if (values.length < 2) return 0;
  let sum = 0;
  let max = 0;
  for (const v of values) {
    sum += v;
    if (v > max) max = v;
  }
  return sum === 0 ? 0 : max / (sum / values.length);
}
