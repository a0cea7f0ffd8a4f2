// Per-RPC counting, kept cheap for the hot path: plain numbers in objects resolved once per
// cluster, endpoint and status, no label strings. Prometheus reads them on scrape
// (metrics.ts); the sampler turns the endpoint totals into rates (sampler.ts).
import { httpStatusOfGrpc } from "../core/status.js";
import type { RpcOutcome } from "../proxy/forwarder.js";
import { AttemptEnd, type AttemptObserver } from "../upstream/attempt.js";

/**
 * Envoy's default histogram buckets (ms), which Istio's istio_request_duration_milliseconds
 * uses (envoy source/common/stats/histogram_impl.cc, HistogramSettingsImpl::defaultBuckets).
 */
export const DURATION_BUCKETS_MS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

/** gRPC status codes 0..16 have a slot each; anything else (or none) shares the last. */
const STATUS_SLOTS = 18;
const OTHER_STATUS = STATUS_SLOTS - 1;

/** RPCs of one cluster that ended with one status, upstream's or the proxy's own. */
export interface StatusCell {
  /** null: no status (a reset), or a code outside 0..16. */
  readonly status: number | null;
  /** The proxy answered itself (no healthy upstream, overflow, connect failure, deadline). */
  readonly local: boolean;
  count: number;
  sumMs: number;
  /** Per bucket, not cumulative; the last slot is +Inf. */
  readonly buckets: Float64Array;
}

/** Attempts an endpoint finished, retries included (Envoy's per-host rq_total and rq_error). */
export interface EndpointCounters {
  total: number;
  /** Of those, 5xx answers (through the grpc-status table), failed connects, resets and timeouts (Envoy's per-host rq_error). */
  errors: number;
}

export class ClusterRpcStats {
  /** By status slot x 2 + local. */
  readonly cells: (StatusCell | undefined)[] = new Array<StatusCell | undefined>(STATUS_SLOTS * 2);
  readonly endpoints = new Map<string, EndpointCounters>();
  total = 0;

  constructor(readonly name: string) {}
}

export class RpcStats {
  readonly clusters = new Map<string, ClusterRpcStats>();

  /** The end hook's work: a few map lookups and increments. */
  record(o: RpcOutcome): void {
    let c = this.clusters.get(o.cluster);
    if (c === undefined) {
      c = new ClusterRpcStats(o.cluster);
      this.clusters.set(o.cluster, c);
    }
    c.total++;
    const status = o.status;
    const slot = status !== null && status >= 0 && status < OTHER_STATUS ? status : OTHER_STATUS;
    const index = slot * 2 + (o.local ? 1 : 0);
    let cell = c.cells[index];
    if (cell === undefined) {
      cell = { status: slot === OTHER_STATUS ? null : slot, local: o.local, count: 0, sumMs: 0, buckets: new Float64Array(DURATION_BUCKETS_MS.length + 1) };
      c.cells[index] = cell;
    }
    cell.count++;
    const ms = o.durationMs;
    cell.sumMs += ms;
    let b = 0;
    while (b < DURATION_BUCKETS_MS.length && ms > DURATION_BUCKETS_MS[b]!) b++;
    cell.buckets[b]!++;
  }

  /**
   * Per-endpoint counting, for ProxyDeps.attemptObserver: every attempt, retries included,
   * as Envoy's per-host upstream_rq_total counts them; errors are attempts that ended in a
   * 5xx (through the grpc-status table), a failed connect, a reset or a timeout. A client's
   * cancel ends no attempt, so it is no endpoint's error.
   */
  attemptObserver(cluster: string): AttemptObserver {
    return {
      attemptEnded: (endpoint, end, grpcStatus) => {
        let c = this.clusters.get(cluster);
        if (c === undefined) {
          c = new ClusterRpcStats(cluster);
          this.clusters.set(cluster, c);
        }
        let e = c.endpoints.get(endpoint.key);
        if (e === undefined) {
          e = { total: 0, errors: 0 };
          c.endpoints.set(endpoint.key, e);
        }
        e.total++;
        if (end !== AttemptEnd.RESPONSE || grpcStatus < 0 || httpStatusOfGrpc(grpcStatus) >= 500) e.errors++;
      },
    };
  }

  /**
   * Forgets clusters and endpoints that left the config or the endpoint set (a reload, DNS or
   * pod churn), so their counters do not pile up; `keep` names pseudo-clusters to keep.
   */
  prune(live: ReadonlyMap<string, ReadonlySet<string>>, keep: readonly string[] = []): void {
    for (const [name, c] of this.clusters) {
      const endpoints = live.get(name);
      if (endpoints === undefined) {
        if (!keep.includes(name)) this.clusters.delete(name);
        continue;
      }
      for (const key of c.endpoints.keys()) if (!endpoints.has(key)) c.endpoints.delete(key);
    }
  }

  /** Attempts that ended on this endpoint so far (0 when none). */
  endpointTotal(cluster: string, endpoint: string): number {
    return this.clusters.get(cluster)?.endpoints.get(endpoint)?.total ?? 0;
  }
}
