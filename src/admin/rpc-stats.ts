// Per-RPC counting, kept cheap for the hot path: plain numbers in objects resolved once per
// cluster, endpoint and status, no label strings. Prometheus reads them on scrape
// (metrics.ts); the sampler turns the endpoint totals into rates (sampler.ts).
import { httpStatusOfGrpc } from "../core/status.js";
import type { RpcOutcome } from "../proxy/rpc-outcome.js";
import { RESPONSE_FLAG_COUNT, type ResponseFlag } from "../proxy/response-flags.js";
import { AttemptEnd, causeOf, type OutcomeObserver } from "../balancer/outcome.js";

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

/** RPCs of one destination host that ended with one status and response flag, upstream's or the proxy's own. */
export interface StatusCell {
  /** null: no status (a reset), or a code outside 0..16. */
  readonly status: number | null;
  /** The proxy answered itself (no healthy upstream, overflow, connect failure, deadline). */
  readonly local: boolean;
  /** Envoy's response flag. */
  readonly flag: ResponseFlag;
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
  /** When prune() first found the endpoint gone; null while it is in the cluster. */
  absentSince: number | null;
}

/**
 * Istio's series of one destination host: its labels depend on the host and the status
 * only, so every cluster of the host (each subset, each port) adds to the same cells.
 */
export class HostRpcStats {
  /** By (status slot x 2 + local) x RESPONSE_FLAG_COUNT + flag; sparse. */
  readonly cells: (StatusCell | undefined)[] = new Array<StatusCell | undefined>(STATUS_SLOTS * 2 * RESPONSE_FLAG_COUNT);

  constructor(readonly host: string) {}
}

/** Per-endpoint counters of one cluster. */
export class ClusterRpcStats {
  readonly endpoints = new Map<string, EndpointCounters>();
  absentSince: number | null = null;

  constructor(readonly name: string) {}
}

/**
 * How long counters of an endpoint or cluster that left are kept: longer than Prometheus's
 * 5-minute staleness window, so an endpoint that flaps (one DNS answer without it, a pod
 * briefly unready) comes back with its counter where it was instead of restarting at 0,
 * which a scraper would read as a counter reset.
 */
export const PRUNE_AFTER_MS = 10 * 60_000;

/** Cluster names are `host|port|subset`. */
export function hostOfCluster(name: string): string {
  const bar = name.indexOf("|");
  return bar < 0 ? name : name.slice(0, bar);
}

export class RpcStats {
  /** Istio's cells by destination host; bounded by the hosts configured, never pruned. */
  readonly hosts = new Map<string, HostRpcStats>();
  /** Per-endpoint counters by cluster. */
  readonly clusters = new Map<string, ClusterRpcStats>();
  /** Cluster name -> its host's cells, so the hot path splits no strings. */
  private readonly hostOf = new Map<string, HostRpcStats>();

  /** The end hook's work: a few map lookups and increments. */
  record(o: RpcOutcome): void {
    let h = this.hostOf.get(o.cluster);
    if (h === undefined) {
      const host = hostOfCluster(o.cluster);
      h = this.hosts.get(host);
      if (h === undefined) {
        h = new HostRpcStats(host);
        this.hosts.set(host, h);
      }
      this.hostOf.set(o.cluster, h);
    }
    const status = o.status;
    const slot = status !== null && status >= 0 && status < OTHER_STATUS ? status : OTHER_STATUS;
    const index = (slot * 2 + (o.local ? 1 : 0)) * RESPONSE_FLAG_COUNT + o.flag;
    let cell = h.cells[index];
    if (cell === undefined) {
      cell = {
        status: slot === OTHER_STATUS ? null : slot,
        local: o.local,
        flag: o.flag,
        count: 0,
        sumMs: 0,
        buckets: new Float64Array(DURATION_BUCKETS_MS.length + 1),
      };
      h.cells[index] = cell;
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
   * as Envoy's per-host upstream_rq_total counts them (one the client cancelled too); errors
   * are attempts that ended in a 5xx (through the grpc-status table), a failed connect, a
   * reset or a timeout. A client's cancel is no endpoint's error.
   */
  attemptObserver(cluster: string): OutcomeObserver {
    return {
      attemptEnded: ({ endpoint, end, grpcStatus }) => {
        let c = this.clusters.get(cluster);
        if (c === undefined) {
          c = new ClusterRpcStats(cluster);
          this.clusters.set(cluster, c);
        }
        let e = c.endpoints.get(endpoint.key);
        if (e === undefined) {
          e = { total: 0, errors: 0, absentSince: null };
          c.endpoints.set(endpoint.key, e);
        }
        e.total++;
        if (causeOf(end) === "client") return;
        if (end !== AttemptEnd.RESPONSE || grpcStatus < 0 || httpStatusOfGrpc(grpcStatus) >= 500) e.errors++;
      },
    };
  }

  /**
   * Forgets the counters of clusters and endpoints that left the config or the endpoint set
   * (a reload, DNS or pod churn) PRUNE_AFTER_MS after they left, so they do not pile up.
   */
  prune(live: ReadonlyMap<string, ReadonlySet<string>>, now: number): void {
    for (const [name, c] of this.clusters) {
      const endpoints = live.get(name);
      if (endpoints === undefined) {
        c.absentSince ??= now;
        if (now - c.absentSince >= PRUNE_AFTER_MS) this.clusters.delete(name);
        continue;
      }
      c.absentSince = null;
      for (const [key, e] of c.endpoints) {
        if (endpoints.has(key)) e.absentSince = null;
        else if (now - (e.absentSince ??= now) >= PRUNE_AFTER_MS) c.endpoints.delete(key);
      }
    }
    // The cluster -> host cache: only clusters still counted or live.
    for (const name of this.hostOf.keys()) if (!live.has(name) && !this.clusters.has(name)) this.hostOf.delete(name);
  }

  /** Attempts that ended on this endpoint so far (0 when none). */
  endpointTotal(cluster: string, endpoint: string): number {
    return this.clusters.get(cluster)?.endpoints.get(endpoint)?.total ?? 0;
  }
}
