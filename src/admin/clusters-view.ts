// /clusters: each destination's endpoints as they are now, in JSON (Envoy's /clusters, as
// data rather than text): state, connections, active requests, why an endpoint is out of
// balancing, outlier detection's counts, panic, circuit breakers and retries.
import type { Proxy } from "../proxy/proxy.js";
import { PoolState } from "../upstream/endpoint-pool.js";
import type { RpcStats } from "./rpc-stats.js";
import type { Sampler } from "./sampler.js";

export interface EndpointView {
  readonly endpoint: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  /** The connection state (gRPC's channel states; IDLE until the first RPC opens one). */
  readonly state: PoolState;
  /** Why its last connect failed (an upstream TLS error names the reason), while in TRANSIENT_FAILURE; else null. */
  readonly failure: string | null;
  /** True when neither ejected nor unhealthy. */
  readonly healthy: boolean;
  readonly ejected: boolean;
  readonly unhealthy: boolean;
  /** Present while ejected: why, and for how long (ms) from when (the proxy's monotonic ms). */
  readonly ejection: { readonly reason: string; readonly forMs: number } | null;
  readonly timesEjected: number;
  /** Upstream connections open or opening, the draining ones included (upstream_cx_active). */
  readonly connections: number;
  /**
   * Of those, the ones retired (the backend's GOAWAY, maxConnectionDuration, idle timeout,
   * maxRequestsPerConnection) that only finish their streams: they take no new stream and do
   * not count against tcp.maxConnections.
   */
  readonly drainingConnections: number;
  readonly connectionsOpened: number;
  readonly pinnedConnections: number;
  readonly activeRequests: number;
  /** Attempts that ended on the endpoint (retries included), and of those the failed ones. */
  readonly requests: number;
  readonly errors: number;
  /** Over the last 10 s, from the admin server's sampler (null before its first samples). */
  readonly rps: number | null;
}

export interface ClusterView {
  readonly cluster: string;
  readonly host: string;
  readonly port: number;
  readonly subset: string | null;
  readonly loadBalancer: string;
  readonly panic: boolean;
  readonly activeRequests: number;
  readonly pendingRequests: number;
  readonly overflows: { readonly http2MaxRequests: number; readonly http1MaxPendingRequests: number };
  readonly retries: {
    readonly retries: number;
    readonly successes: number;
    readonly overflows: number;
    readonly limitExceeded: number;
    readonly transparent: number;
    readonly active: number;
  };
  /** Request bytes kept for retries now, and requests no longer kept by the limit they met. */
  readonly retryBuffer: { readonly bytes: number; readonly overLimit: number; readonly overBudget: number };
  /** Connection mode: downstream connections moved off their pinned endpoint, by reason. */
  readonly pinMoves: { readonly left: number; readonly excluded: number; readonly unreachable: number };
  readonly outlierDetection: {
    readonly ejectionsTotal: number;
    readonly ejectionsActive: number;
    readonly ejectionsOverflow: number;
    readonly byReason: Readonly<Record<string, number>>;
  } | null;
  readonly imbalance: { readonly activeRequests: number; readonly requestRate: number } | null;
  readonly endpoints: readonly EndpointView[];
}

export function clustersView(proxy: Proxy, stats: RpcStats, sampler: Sampler | undefined): { clusters: ClusterView[] } {
  const clusters: ClusterView[] = [];
  for (const c of proxy.clusterRuntimes()) {
    const od = proxy.outlierDetector(c.name) ?? null;
    const counts = stats.clusters.get(c.name);
    const latest = sampler?.latest(c.name);
    const lb = c.config.policy.loadBalancer;
    clusters.push({
      cluster: c.name,
      host: c.config.host,
      port: c.config.port,
      subset: c.config.subset,
      loadBalancer: lb.kind === "simple" ? lb.policy : lb.kind,
      panic: c.panic,
      activeRequests: c.stats.active,
      pendingRequests: c.pending.count,
      overflows: { http2MaxRequests: c.stats.overflows, http1MaxPendingRequests: c.pending.overflows },
      retries: { ...c.stats.retry, active: c.stats.activeRetries },
      retryBuffer: { ...c.stats.replayBuffer },
      pinMoves: { ...c.stats.pinMoves },
      outlierDetection:
        od === null
          ? null
          : {
              ejectionsTotal: od.ejectionsTotal,
              ejectionsActive: od.activeEjections,
              ejectionsOverflow: od.ejectionsOverflow,
              byReason: { ...od.ejectionsByReason },
            },
      imbalance: latest === undefined ? null : latest.imbalance,
      endpoints: c.endpointList().map((e) => {
        const pool = c.existingPool(e.key);
        const ejection = od?.ejection(e.key) ?? null;
        const counters = counts?.endpoints.get(e.key);
        const ejected = c.isExcluded(e.key, "ejected");
        const unhealthy = c.isExcluded(e.key, "unhealthy");
        return {
          endpoint: e.key,
          address: e.address,
          port: e.port,
          weight: e.weight,
          labels: e.labels,
          state: pool?.state ?? PoolState.IDLE,
          failure: pool?.state === PoolState.TRANSIENT_FAILURE ? pool.lastConnectFailure : null,
          healthy: !ejected && !unhealthy,
          ejected,
          unhealthy,
          ejection: ejection === null ? null : { reason: ejection.reason, forMs: ejection.forMs },
          timesEjected: od?.timesEjected(e.key) ?? 0,
          connections: pool?.connectionCount ?? 0,
          drainingConnections: pool?.drainingConnectionCount ?? 0,
          connectionsOpened: pool?.connectionsOpened ?? 0,
          pinnedConnections: e.load.activeConnections,
          activeRequests: e.load.activeRequests,
          requests: counters?.total ?? 0,
          errors: counters?.errors ?? 0,
          rps: latest?.endpoints.get(e.key)?.rps ?? null,
        };
      }),
    });
  }
  return { clusters };
}
