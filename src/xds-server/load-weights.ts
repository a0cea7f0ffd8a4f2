// Per-endpoint weights from clients' load reports (LRS). Pure: no timers, no I/O; the clock
// is injected and the caller ticks once per reporting interval.
//
// Each report covers one client's interval T for one endpoint (one locality per endpoint):
// completions n (successes + errors) and the calls in flight at its end, L. By Little's law
// the time an endpoint holds a call is W = (L x T) / n, aggregated over every client as
// sum(L x T) / sum(n). The sums decay once per tick (an EWMA that weighs windows by how
// much they saw), so one noisy snapshot of L moves little; an endpoint is estimated once
// its smoothed sums hold enough calls and enough reports (snapshots).
//
// Errors: an endpoint that fails fast must not look fast. Weight is per success, and each
// error costs the endpoint the slowest endpoint's W in the cluster:
//   W_eff = W + (errors / successes) x W_slowest      (no successes: weight floor)
// Weight = round(100 x fastest W_eff / W_eff), at least 1; an endpoint never estimated
// keeps the neutral weight 100 (it gets traffic, so it gets data).
// Hysteresis: new weights are published only when one moved by more than `threshold` (and by
// more than 1) since the last publication, and at most once per interval.

/** One client's report for one endpoint, as decoded from an UpstreamLocalityStats. */
export interface EndpointLoad {
  /** xDS cluster name. */
  readonly cluster: string;
  /** `ADDRESS:PORT`, the locality's sub_zone. */
  readonly endpoint: string;
  readonly issued: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly inProgress: number;
  /** The report's load_report_interval. */
  readonly intervalMs: number;
}

/** cluster name -> endpoint (`ADDRESS:PORT`) -> weight (1..100). */
export type Weights = ReadonlyMap<string, ReadonlyMap<string, number>>;

export interface WeightEstimatorOptions {
  /** The reporting interval: ticks and publications are at most this often. */
  readonly intervalMs: number;
  readonly now: () => number;
  /** How much of the smoothed sums survives a tick (default 0.85: ~7 intervals of memory). */
  readonly decay?: number;
  /** Smoothed calls (completed or issued) an endpoint needs before it is estimated (default 20). */
  readonly minCalls?: number;
  /** Smoothed reports (in-flight snapshots) an endpoint needs before it is estimated (default 3). */
  readonly minReports?: number;
  /** Relative move of one weight that triggers a publication (default 0.1). */
  readonly threshold?: number;
}

export const NEUTRAL_WEIGHT = 100;
const FLOOR_WEIGHT = 1;

interface Sums {
  /** In-flight call-milliseconds: sum of inProgress x intervalMs. */
  inFlightMs: number;
  succeeded: number;
  failed: number;
  issued: number;
  reports: number;
}

interface EndpointState {
  readonly window: Sums;
  readonly smoothed: Sums;
  /** The last estimate made with enough data; kept while data is thin. */
  estimate: { readonly latencyMs: number; readonly errorsPerSuccess: number } | null;
}

const zero = (): Sums => ({ inFlightMs: 0, succeeded: 0, failed: 0, issued: 0, reports: 0 });

export class LoadWeightEstimator {
  private readonly state = new Map<string, Map<string, EndpointState>>();
  private published = new Map<string, Map<string, number>>();
  private lastPublishAt = -Infinity;
  private readonly decay: number;
  private readonly minCalls: number;
  private readonly minReports: number;
  private readonly threshold: number;

  constructor(private readonly opts: WeightEstimatorOptions) {
    this.decay = opts.decay ?? 0.85;
    this.minCalls = opts.minCalls ?? 20;
    this.minReports = opts.minReports ?? 3;
    this.threshold = opts.threshold ?? 0.1;
  }

  /**
   * The endpoints now served, per cluster. What was learned about endpoints that remain is
   * kept (a config reload does not reset weights); the rest is forgotten.
   */
  setEndpoints(served: ReadonlyMap<string, readonly string[]>): void {
    for (const cluster of [...this.state.keys()]) if (!served.has(cluster)) this.state.delete(cluster);
    for (const [cluster, endpoints] of served) {
      const prev = this.state.get(cluster) ?? new Map<string, EndpointState>();
      const next = new Map<string, EndpointState>();
      for (const e of endpoints) next.set(e, prev.get(e) ?? { window: zero(), smoothed: zero(), estimate: null });
      this.state.set(cluster, next);
    }
    const kept = new Map<string, Map<string, number>>();
    for (const [cluster, weights] of this.published) {
      const endpoints = this.state.get(cluster);
      if (endpoints === undefined) continue;
      kept.set(cluster, new Map([...weights].filter(([e]) => endpoints.has(e))));
    }
    this.published = kept;
  }

  /** Adds one report to the current window; false (ignored) for an endpoint not served. */
  record(load: EndpointLoad): boolean {
    const s = this.state.get(load.cluster)?.get(load.endpoint);
    if (s === undefined) return false;
    s.window.inFlightMs += load.inProgress * load.intervalMs;
    s.window.succeeded += load.succeeded;
    s.window.failed += load.failed;
    s.window.issued += load.issued;
    s.window.reports += 1;
    return true;
  }

  /**
   * Folds the window into the smoothed sums and returns the new weights when they moved
   * enough to publish (and an interval has passed since the last publication); else null.
   */
  tick(): Weights | null {
    for (const endpoints of this.state.values()) for (const s of endpoints.values()) this.fold(s);
    const candidate = new Map<string, Map<string, number>>();
    for (const [cluster, endpoints] of this.state) candidate.set(cluster, this.clusterWeights(endpoints));
    const now = this.opts.now();
    if (now - this.lastPublishAt < this.opts.intervalMs) return null;
    if (!this.movedEnough(candidate)) return null;
    this.published = candidate;
    this.lastPublishAt = now;
    return this.current();
  }

  /** The last published weights (endpoints absent from it are at the neutral weight). */
  current(): Weights {
    return new Map([...this.published].map(([c, w]) => [c, new Map(w)]));
  }

  /** The current estimates (ms per call, errors per success) by cluster and endpoint, for traces; null = not enough data yet. */
  estimates(): Record<string, Record<string, { latencyMs: number; errorsPerSuccess: number } | null>> {
    return Object.fromEntries(
      [...this.state].map(([c, endpoints]) => [c, Object.fromEntries([...endpoints].map(([e, s]) => [e, s.estimate === null ? null : { ...s.estimate }]))]),
    );
  }

  private fold(s: EndpointState): void {
    const w = s.window;
    const m = s.smoothed;
    m.inFlightMs = m.inFlightMs * this.decay + w.inFlightMs;
    m.succeeded = m.succeeded * this.decay + w.succeeded;
    m.failed = m.failed * this.decay + w.failed;
    m.issued = m.issued * this.decay + w.issued;
    m.reports = m.reports * this.decay + w.reports;
    Object.assign(w, zero());
    const completed = m.succeeded + m.failed;
    // Thin data keeps the last estimate: a down-weighted endpoint gets few calls, and must
    // not bounce back to neutral for it.
    if (Math.max(completed, m.issued) < this.minCalls || m.reports < this.minReports) return;
    // Nothing ever seen in flight: W is below what the snapshots resolve. Unknown, unless
    // there were errors (an endpoint failing at once must still lose weight: W counts as 0).
    if (m.inFlightMs <= 0 && m.failed === 0) return;
    // Calls issued but none completed (a hung endpoint): W is at least the in-flight time per call.
    s.estimate = {
      latencyMs: m.inFlightMs / Math.max(completed, 1),
      errorsPerSuccess: m.succeeded > 0 ? m.failed / m.succeeded : m.failed > 0 || completed === 0 ? Infinity : 0,
    };
  }

  private clusterWeights(endpoints: ReadonlyMap<string, EndpointState>): Map<string, number> {
    const estimated = [...endpoints.values()].flatMap((s) => (s.estimate === null ? [] : [s.estimate]));
    const slowest = Math.max(0, ...estimated.map((e) => e.latencyMs));
    const effective = (e: NonNullable<EndpointState["estimate"]>): number =>
      e.errorsPerSuccess === 0 ? e.latencyMs : e.latencyMs + e.errorsPerSuccess * slowest;
    const fastest = Math.min(...estimated.map(effective));
    const weights = new Map<string, number>();
    for (const [name, s] of endpoints) {
      if (s.estimate === null || !Number.isFinite(fastest)) {
        weights.set(name, NEUTRAL_WEIGHT);
        continue;
      }
      const eff = effective(s.estimate);
      const w = eff <= fastest ? NEUTRAL_WEIGHT : Number.isFinite(eff) ? Math.round((NEUTRAL_WEIGHT * fastest) / eff) : FLOOR_WEIGHT;
      weights.set(name, Math.min(NEUTRAL_WEIGHT, Math.max(FLOOR_WEIGHT, w)));
    }
    return weights;
  }

  private movedEnough(candidate: ReadonlyMap<string, ReadonlyMap<string, number>>): boolean {
    for (const [cluster, weights] of candidate) {
      const before = this.published.get(cluster);
      for (const [e, w] of weights) {
        const old = before?.get(e) ?? NEUTRAL_WEIGHT;
        if (Math.abs(w - old) > Math.max(1, this.threshold * old)) return true;
      }
    }
    return false;
  }
}
