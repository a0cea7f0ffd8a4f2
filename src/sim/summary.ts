// The numbers a run is judged by: each backend's share of the RPCs, how uneven the backends'
// rates are (max/mean, coefficient of variation), how long a backend added during the run
// took to carry 90% of its fair share, latency percentiles and failed RPCs.
import type { SimRun } from "./simulation.js";

/** What the summary needs of a backend: its name, its column in the recorder, when it was up. */
export interface BackendTimes {
  readonly name: string;
  readonly index: number;
  readonly addedAt: number;
  readonly removedAt: number | null;
}

/** A run to summarize: a simulated one, or one recorded live into the same Recorder. */
export type RunRecord = Pick<SimRun, "scenario" | "layer" | "policy" | "cluster" | "recorder" | "events"> & {
  readonly backends: readonly BackendTimes[];
};

export interface BackendSummary {
  readonly name: string;
  readonly addedAtMs: number;
  readonly removedAtMs: number | null;
  /** RPCs sent to it from the measurement start on. */
  readonly rpcs: number;
  /** Its part of all RPCs sent (0..1). */
  readonly share: number;
  /** RPCs per second while it was up (in the measured window). */
  readonly ratePerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Connections pinned to it in the last bucket (connection layers). */
  readonly connections: number;
  /**
   * For a backend added after the start: ms from its addition to the end of the first bucket
   * in which it got at least 90% of a fair share (1/N of the RPCs of the backends up for the
   * whole bucket); null if that never happened; undefined for backends there from the start.
   */
  readonly timeTo90Ms: number | null | undefined;
}

export interface SimSummary {
  readonly scenario: string;
  readonly layer: string;
  readonly policy: string;
  readonly maxRequestsPerConnection: number;
  readonly durationMs: number;
  readonly measureFromMs: number;
  /** RPCs finished from the measurement start on. */
  readonly rpcs: number;
  readonly failed: number;
  /** RPCs still queued or running when the run ended (after its drain): in no count and no percentile. */
  readonly unfinished: number;
  /** Client connections opened per second over the measured window (connection layers). */
  readonly connectionsPerS: number;
  readonly failures: Readonly<Record<string, number>>;
  /** The busiest backend's rate over the mean rate (1 = even). */
  readonly maxOverMean: number;
  /** Standard deviation of the backends' rates over their mean (0 = even). */
  readonly cv: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The slowest time to 90% of the backends added during the run (null: one never got there; undefined: none added). */
  readonly timeToBalanceMs: number | null | undefined;
  readonly backends: readonly BackendSummary[];
  readonly events: number;
}

export function summarize(run: RunRecord): SimSummary {
  const { scenario, recorder, backends } = run;
  const from = scenario.measureFromMs;
  const to = scenario.durationMs;
  const total = recorder.measured.reduce((a, b) => a + b, 0);
  const lastBucket = Math.ceil(to / scenario.bucketMs) - 1;
  let totals: BucketTotals | undefined;
  const rows: BackendSummary[] = backends.map((b) => {
    const upFrom = Math.max(from, b.addedAt);
    const upTo = Math.min(to, b.removedAt ?? to);
    const upS = Math.max(0, upTo - upFrom) / 1000;
    const rpcs = recorder.measured[b.index] ?? 0;
    const h = recorder.backendLatency[b.index]!;
    return {
      name: b.name,
      addedAtMs: b.addedAt,
      removedAtMs: b.removedAt,
      rpcs,
      share: total > 0 ? rpcs / total : 0,
      ratePerS: upS > 0 ? rpcs / upS : 0,
      p50Ms: h.quantile(0.5),
      p99Ms: h.quantile(0.99),
      connections: recorder.connections[b.index]?.[lastBucket] ?? 0,
      timeTo90Ms: b.addedAt > 0 ? timeTo90(run, b, totals ?? (totals = bucketTotals(run))) : undefined,
    };
  });
  const rates = rows.filter((r) => Math.min(to, r.removedAtMs ?? to) - Math.max(from, r.addedAtMs) > 0).map((r) => r.ratePerS);
  const mean = rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length);
  const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / Math.max(1, rates.length));
  const added = rows.filter((r) => r.timeTo90Ms !== undefined);
  let timeToBalanceMs: number | null | undefined;
  if (added.length > 0) timeToBalanceMs = added.some((r) => r.timeTo90Ms === null) ? null : added.reduce((m, r) => Math.max(m, r.timeTo90Ms!), 0);
  return {
    scenario: scenario.name,
    layer: run.layer,
    policy: run.policy,
    maxRequestsPerConnection: run.cluster.policy.connectionPool.http.maxRequestsPerConnection,
    durationMs: scenario.durationMs,
    measureFromMs: from,
    rpcs: recorder.finished,
    failed: recorder.failed,
    unfinished: recorder.started - recorder.endedAll,
    connectionsPerS: recorder.connectionsOpened / (Math.max(1, to - from) / 1000),
    failures: Object.fromEntries(recorder.failures),
    maxOverMean: mean > 0 ? rates.reduce((m, r) => Math.max(m, r), 0) / mean : NaN,
    cv: mean > 0 ? sd / mean : NaN,
    p50Ms: recorder.latency.quantile(0.5),
    p99Ms: recorder.latency.quantile(0.99),
    timeToBalanceMs,
    backends: rows,
    events: run.events,
  };
}

/** Per bucket: the RPCs of the backends up for the whole bucket, and how many they are. Computed once. */
interface BucketTotals {
  readonly sum: Float64Array;
  readonly up: Uint32Array;
}

function bucketTotals(run: RunRecord): BucketTotals {
  const { scenario, recorder, backends } = run;
  const w = scenario.bucketMs;
  const buckets = Math.ceil(scenario.durationMs / w);
  const sum = new Float64Array(buckets);
  const up = new Uint32Array(buckets);
  for (const o of backends) {
    const row = recorder.rpcs[o.index]!;
    const last = o.removedAt === null ? buckets : Math.min(buckets, Math.floor(o.removedAt / w));
    for (let k = Math.ceil(o.addedAt / w); k < last; k++) {
      up[k]!++;
      sum[k]! += row[k] ?? 0;
    }
  }
  return { sum, up };
}

/** See BackendSummary.timeTo90Ms. */
function timeTo90(run: RunRecord, b: BackendTimes, totals: BucketTotals): number | null {
  const w = run.scenario.bucketMs;
  const row = run.recorder.rpcs[b.index]!;
  for (let k = Math.ceil(b.addedAt / w); k < totals.sum.length; k++) {
    const end = (k + 1) * w;
    if (b.removedAt !== null && b.removedAt < end) return null;
    const sum = totals.sum[k]!;
    const up = totals.up[k]!;
    if (sum > 0 && up > 0 && (row[k] ?? 0) / sum >= 0.9 / up) return end - b.addedAt;
  }
  return null;
}
