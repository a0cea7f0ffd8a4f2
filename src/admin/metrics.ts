// The Prometheus metrics: one table, every value read on scrape from the counters the proxy
// keeps anyway (nothing here runs per RPC). Names and labels are those people already graph:
// Istio's standard metrics (istio.io/latest/docs/reference/config/metrics: a client-side
// proxy reports with reporter="source") and Envoy's cluster stats as its Prometheus exporter
// names them (envoy_cluster_<stat>{cluster_name}), with an `endpoint` label for per-host
// series. sluice's own additions are prefixed sluice_.
import { Counter, Gauge, Registry, type Metric } from "prom-client";
import type { Proxy } from "../proxy/proxy.js";
import { responseCode, responseFlagName } from "../proxy/response-flags.js";
import { PoolState } from "../upstream/endpoint-pool.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import { DURATION_BUCKETS_MS, type RpcStats, type StatusCell } from "./rpc-stats.js";
import type { Sampler } from "./sampler.js";

export interface MetricsSource {
  readonly proxy: Proxy;
  readonly stats: RpcStats;
  /** Absent: the imbalance gauges are left out. */
  readonly sampler?: Sampler;
}

type Labels = Record<string, string>;
type Emit = (labels: Labels, value: number) => void;

interface Row {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly labels: readonly string[];
  readonly collect: (emit: Emit, src: MetricsSource) => void;
}

/** Istio: "source" when a client-side proxy reports, "destination" for a server-side one. */
export const REPORTER = "source";

const ISTIO_LABELS = [
  "reporter",
  "source_workload",
  "source_workload_namespace",
  "source_canonical_service",
  "destination_workload",
  "destination_workload_namespace",
  "destination_canonical_service",
  "destination_service",
  "destination_service_name",
  "destination_service_namespace",
  "request_protocol",
  "response_code",
  "grpc_response_status",
  "response_flags",
] as const;

const CLUSTER = ["cluster_name"] as const;
const ENDPOINT = ["cluster_name", "endpoint"] as const;

/** Istio's labels for one status cell of a destination host. */
function istioLabels(host: string, cell: StatusCell): Labels {
  const parts = host.split(".");
  const status = cell.status;
  // name.namespace.svc.cluster.local (Kubernetes): the short name and the namespace, as
  // Istio reports a Kubernetes service; any other host is its own name, with no namespace.
  const kubernetes = parts.length >= 3 && parts[2] === "svc";
  const namespace = kubernetes ? parts[1]! : "unknown";
  return {
    reporter: REPORTER,
    source_workload: "sluice",
    // Istio's value for what it cannot know; sluice has no Kubernetes identity of its own.
    source_workload_namespace: "unknown",
    source_canonical_service: "sluice",
    // The workload behind a host is not known to sluice (Istio learns it from the peer's
    // metadata exchange); Istio writes "unknown" then rather than a guess.
    destination_workload: "unknown",
    destination_workload_namespace: namespace,
    destination_canonical_service: "unknown",
    destination_service: host,
    destination_service_name: kubernetes ? parts[0]! : host,
    destination_service_namespace: namespace,
    request_protocol: "grpc",
    response_code: String(responseCode(status, cell.local, cell.flag)),
    grpc_response_status: status === null ? "" : String(status),
    response_flags: responseFlagName(cell.flag),
  };
}

function forEachCluster(src: MetricsSource, f: (c: ClusterRuntime, labels: Labels) => void): void {
  for (const c of src.proxy.clusterRuntimes()) f(c, { cluster_name: c.name });
}

function forEachEndpoint(src: MetricsSource, f: (c: ClusterRuntime, key: string, labels: Labels) => void): void {
  for (const c of src.proxy.clusterRuntimes()) for (const e of c.endpointList()) f(c, e.key, { cluster_name: c.name, endpoint: e.key });
}

const STATES = Object.values(PoolState);
const LIFETIME_EVENTS = ["idleTimeouts", "maxAgeDrains", "graceExpired", "tooManyPings", "keepaliveTimeouts"] as const;

/** Every metric but the duration histogram (below), in one table. */
export const METRICS: readonly Row[] = [
  {
    name: "istio_requests_total",
    help: "RPCs handled, by destination and status (Istio standard metric)",
    type: "counter",
    labels: ISTIO_LABELS,
    collect: (emit, { stats }) => {
      for (const h of stats.hosts.values()) for (const cell of h.cells) if (cell !== undefined) emit(istioLabels(h.host, cell), cell.count);
    },
  },
  {
    name: "istio_tcp_connections_opened_total",
    help: "Downstream connections accepted (Istio standard metric)",
    type: "counter",
    labels: ["reporter", "source_workload"],
    collect: (emit, { proxy }) => emit({ reporter: REPORTER, source_workload: "sluice" }, proxy.connectionsAccepted),
  },
  {
    name: "istio_tcp_connections_closed_total",
    help: "Downstream connections closed (Istio standard metric)",
    type: "counter",
    labels: ["reporter", "source_workload"],
    collect: (emit, { proxy }) => emit({ reporter: REPORTER, source_workload: "sluice" }, proxy.connectionsClosed),
  },
  {
    name: "envoy_http_downstream_cx_active",
    help: "Downstream connections open",
    type: "gauge",
    labels: [],
    collect: (emit, { proxy }) => emit({}, proxy.connectionsAccepted - proxy.connectionsClosed),
  },
  {
    name: "envoy_listener_ssl_handshake",
    help: "TLS handshakes completed on the listener (Envoy's listener ssl.handshake; absent on a plaintext listener)",
    type: "counter",
    labels: [],
    collect: (emit, { proxy }) => {
      const tls = proxy.tlsStats;
      if (tls !== undefined) emit({}, tls.handshake);
    },
  },
  {
    name: "envoy_listener_ssl_connection_error",
    help: "TLS handshakes that failed on the listener (Envoy's listener ssl.connection_error; absent on a plaintext listener)",
    type: "counter",
    labels: [],
    collect: (emit, { proxy }) => {
      const tls = proxy.tlsStats;
      if (tls !== undefined) emit({}, tls.connectionError);
    },
  },
  {
    name: "envoy_listener_ssl_no_certificate",
    help: "TLS connections completed without a client certificate (none asked for) (Envoy's listener ssl.no_certificate; absent on a plaintext listener)",
    type: "counter",
    labels: [],
    collect: (emit, { proxy }) => {
      const tls = proxy.tlsStats;
      if (tls !== undefined) emit({}, tls.noCertificate);
    },
  },
  {
    name: "envoy_listener_ssl_fail_verify_no_cert",
    help: "TLS handshakes refused: a client certificate was required and none came (Envoy's listener ssl.fail_verify_no_cert; absent on a plaintext listener)",
    type: "counter",
    labels: [],
    collect: (emit, { proxy }) => {
      const tls = proxy.tlsStats;
      if (tls !== undefined) emit({}, tls.failVerifyNoCert);
    },
  },
  {
    name: "envoy_listener_ssl_fail_verify_error",
    help: "TLS handshakes refused: the client certificate failed verification (Envoy's listener ssl.fail_verify_error; absent on a plaintext listener)",
    type: "counter",
    labels: [],
    collect: (emit, { proxy }) => {
      const tls = proxy.tlsStats;
      if (tls !== undefined) emit({}, tls.failVerifyError);
    },
  },
  {
    name: "sluice_listener_certificate_reloads_total",
    help: "Listener certificate files re-read after a change: result ok (new handshakes use them) or failed (the old ones stay)",
    type: "counter",
    labels: ["result"],
    collect: (emit, { proxy }) => {
      if (proxy.tlsStats === undefined) return;
      emit({ result: "ok" }, proxy.certificateReloads.ok);
      emit({ result: "failed" }, proxy.certificateReloads.failed);
    },
  },
  {
    name: "envoy_listener_downstream_cx_overflow",
    help: "Downstream connections closed as they arrived: downstream.maxConnections were open",
    type: "counter",
    labels: [],
    collect: (emit, { proxy }) => emit({}, proxy.connectionsOverflowed),
  },
  {
    name: "sluice_downstream_cx_premature_cancel_closed_total",
    help: "Downstream connections closed (GOAWAY ENHANCE_YOUR_CALM) because their cancel overdrew downstream.maxPrematureCancelsPerSecond",
    type: "counter",
    labels: [],
    collect: (emit, { proxy }) => emit({}, proxy.connectionsClosedForCancels),
  },
  {
    name: "envoy_http_downstream_cx_max_requests_reached",
    help: "Downstream connections sent GOAWAY at maxRequestsPerConnection (connection mode)",
    type: "counter",
    labels: [],
    collect: (emit, { proxy }) => emit({}, proxy.connectionsCycled),
  },
  {
    name: "sluice_downstream_lifetime_events_total",
    help: "Downstream connection lifetime events: idleTimeouts, maxAgeDrains, graceExpired, tooManyPings, keepaliveTimeouts",
    type: "counter",
    labels: ["event"],
    collect: (emit, { proxy }) => {
      for (const e of LIFETIME_EVENTS) emit({ event: e }, proxy.lifetime.stats[e]);
    },
  },
  // --- per endpoint (Envoy's per-host stats) ---
  {
    name: "envoy_cluster_upstream_cx_active",
    help: "Upstream connections open or opening, per endpoint",
    type: "gauge",
    labels: ENDPOINT,
    collect: (emit, src) => forEachEndpoint(src, (c, key, l) => emit(l, c.existingPool(key)?.connectionCount ?? 0)),
  },
  {
    name: "envoy_cluster_upstream_cx_total",
    help: "Upstream connections opened (attempts included), per endpoint",
    type: "counter",
    labels: ENDPOINT,
    collect: (emit, src) => forEachEndpoint(src, (c, key, l) => emit(l, c.existingPool(key)?.connectionsOpened ?? 0)),
  },
  {
    name: "envoy_cluster_upstream_rq_active",
    help: "Requests in flight, per endpoint",
    type: "gauge",
    labels: ENDPOINT,
    collect: (emit, src) => {
      for (const c of src.proxy.clusterRuntimes()) for (const e of c.endpointList()) emit({ cluster_name: c.name, endpoint: e.key }, e.load.activeRequests);
    },
  },
  {
    name: "envoy_cluster_upstream_rq_total",
    help: "Attempts that ended on the endpoint (retries included, as Envoy counts), per endpoint",
    type: "counter",
    labels: ENDPOINT,
    collect: (emit, src) => forEachEndpoint(src, (c, key, l) => emit(l, src.stats.endpointTotal(c.name, key))),
  },
  {
    name: "sluice_endpoint_pinned_connections",
    help: "Downstream connections pinned to the endpoint (connection mode)",
    type: "gauge",
    labels: ENDPOINT,
    collect: (emit, src) => {
      for (const c of src.proxy.clusterRuntimes()) for (const e of c.endpointList()) emit({ cluster_name: c.name, endpoint: e.key }, e.load.activeConnections);
    },
  },
  {
    name: "sluice_endpoint_state",
    help: "1 for the endpoint's connection state (IDLE, CONNECTING, READY, TRANSIENT_FAILURE, SHUTDOWN), 0 for the others",
    type: "gauge",
    labels: [...ENDPOINT, "state"],
    collect: (emit, src) =>
      forEachEndpoint(src, (c, key, l) => {
        const state = c.existingPool(key)?.state ?? PoolState.IDLE;
        for (const s of STATES) emit({ ...l, state: s }, s === state ? 1 : 0);
      }),
  },
  {
    name: "sluice_endpoint_excluded",
    help: "1 while the endpoint is kept out of balancing for the reason: ejected (outlier detection) or unhealthy (health checks)",
    type: "gauge",
    labels: [...ENDPOINT, "reason"],
    collect: (emit, src) =>
      forEachEndpoint(src, (c, key, l) => {
        emit({ ...l, reason: "ejected" }, c.isExcluded(key, "ejected") ? 1 : 0);
        emit({ ...l, reason: "unhealthy" }, c.isExcluded(key, "unhealthy") ? 1 : 0);
      }),
  },
  // --- per cluster ---
  {
    name: "envoy_cluster_membership_total",
    help: "Endpoints in the cluster",
    type: "gauge",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, c.endpointList().length)),
  },
  {
    name: "envoy_cluster_membership_healthy",
    help: "Endpoints neither ejected nor failing health checks",
    type: "gauge",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, c.endpointList().filter((e) => c.isHealthy(e.key)).length)),
  },
  {
    name: "sluice_cluster_panic",
    help: "1 while fewer endpoints than minHealthPercent are healthy and balancing uses all of them (Envoy's panic)",
    type: "gauge",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, c.panic ? 1 : 0)),
  },
  {
    name: "envoy_cluster_upstream_rq_pending_active",
    help: "Requests waiting for an upstream connection",
    type: "gauge",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, c.pending.count)),
  },
  {
    name: "envoy_cluster_upstream_rq_pending_overflow",
    help: "Requests failed by a circuit breaker, http1MaxPendingRequests or http2MaxRequests (as Envoy counts both)",
    type: "counter",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, c.pending.overflows + c.stats.overflows)),
  },
  {
    name: "sluice_cluster_rq_overflow_total",
    help: "Requests failed by a circuit breaker, by limit",
    type: "counter",
    labels: [...CLUSTER, "limit"],
    collect: (emit, src) =>
      forEachCluster(src, (c, l) => {
        emit({ ...l, limit: "http2MaxRequests" }, c.stats.overflows);
        emit({ ...l, limit: "http1MaxPendingRequests" }, c.pending.overflows);
      }),
  },
  ...(
    [
      ["upstream_rq_retry", "Retries started", "retries"],
      ["upstream_rq_retry_success", "RPCs answered after a retry with a status retryOn does not cover", "successes"],
      ["upstream_rq_retry_overflow", "Retries refused by maxRetries or the retry budget", "overflows"],
      ["upstream_rq_retry_limit_exceeded", "Retries wanted past the route's attempts", "limitExceeded"],
    ] as const
  ).map(([stat, help, field]): Row => ({
    name: `envoy_cluster_${stat}`,
    help,
    type: "counter",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, c.stats.retry[field])),
  })),
  {
    name: "sluice_cluster_transparent_retries_total",
    help: "Requests no backend saw, replayed at once (gRPC transparent retry)",
    type: "counter",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, c.stats.retry.transparent)),
  },
  {
    name: "envoy_cluster_retry_or_shadow_abandoned",
    help: "Requests no longer kept for a retry (so not retried) because they met retryBufferLimit or the cluster's retryBufferBudget",
    type: "counter",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, c.stats.replayBuffer.overLimit + c.stats.replayBuffer.overBudget)),
  },
  {
    name: "sluice_cluster_retry_buffer_abandoned_total",
    help: "Requests no longer kept for a retry, by the limit they met: retryBufferLimit (the request's own) or retryBufferBudget (the cluster's)",
    type: "counter",
    labels: [...CLUSTER, "limit"],
    collect: (emit, src) =>
      forEachCluster(src, (c, l) => {
        emit({ ...l, limit: "retryBufferLimit" }, c.stats.replayBuffer.overLimit);
        emit({ ...l, limit: "retryBufferBudget" }, c.stats.replayBuffer.overBudget);
      }),
  },
  {
    name: "sluice_cluster_retry_buffer_bytes",
    help: "Request bytes the cluster's RPCs keep now so that a retry can replay them (at most retryBufferBudget)",
    type: "gauge",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, c.stats.replayBuffer.bytes)),
  },
  {
    name: "sluice_cluster_pin_moves_total",
    help: "Connection mode: downstream connections moved off their pinned endpoint, by reason: left (the cluster), excluded (ejected or unhealthy), unreachable (TRANSIENT_FAILURE)",
    type: "counter",
    labels: [...CLUSTER, "reason"],
    collect: (emit, src) =>
      forEachCluster(src, (c, l) => {
        for (const [reason, n] of Object.entries(c.stats.pinMoves)) emit({ ...l, reason }, n);
      }),
  },
  {
    name: "envoy_cluster_outlier_detection_ejections_enforced_total",
    help: "Ejections made by outlier detection",
    type: "counter",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, src.proxy.outlierDetector(c.name)?.ejectionsTotal ?? 0)),
  },
  {
    name: "envoy_cluster_outlier_detection_ejections_active",
    help: "Endpoints ejected now",
    type: "gauge",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, src.proxy.outlierDetector(c.name)?.activeEjections ?? 0)),
  },
  {
    name: "envoy_cluster_outlier_detection_ejections_overflow",
    help: "Ejections refused by maxEjectionPercent",
    type: "counter",
    labels: CLUSTER,
    collect: (emit, src) => forEachCluster(src, (c, l) => emit(l, src.proxy.outlierDetector(c.name)?.ejectionsOverflow ?? 0)),
  },
  {
    name: "sluice_cluster_outlier_ejections_total",
    help: "Ejections made by outlier detection, by rule",
    type: "counter",
    labels: [...CLUSTER, "reason"],
    collect: (emit, src) =>
      forEachCluster(src, (c, l) => {
        const by = src.proxy.outlierDetector(c.name)?.ejectionsByReason;
        if (by !== undefined) for (const [reason, n] of Object.entries(by)) emit({ ...l, reason }, n);
      }),
  },
  {
    name: "sluice_destination_imbalance",
    help: "max / mean over the destination's endpoints of active requests, and of request rate over the last 10 s (1 = even; 0 = nothing to compare)",
    type: "gauge",
    labels: ["destination_service", "cluster_name", "measure"],
    collect: (emit, src) => {
      const sampler = src.sampler;
      if (sampler === undefined) return;
      for (const c of src.proxy.clusterRuntimes()) {
        const s = sampler.latest(c.name);
        if (s === undefined) continue;
        const l = { destination_service: c.config.host, cluster_name: c.name };
        emit({ ...l, measure: "active_requests" }, s.imbalance.activeRequests);
        emit({ ...l, measure: "request_rate" }, s.imbalance.requestRate);
      }
    },
  },
];

/** A registry of our own (never prom-client's global one) with every metric above. */
export function createRegistry(src: MetricsSource): Registry {
  const registry = new Registry();
  for (const row of METRICS) {
    const labelNames = [...row.labels];
    if (row.type === "counter") {
      const m: Counter = new Counter({
        name: row.name,
        help: row.help,
        labelNames,
        registers: [registry],
        collect: () => {
          m.reset();
          row.collect((labels, v) => m.inc(labels, v), src);
        },
      });
    } else {
      const m: Gauge = new Gauge({
        name: row.name,
        help: row.help,
        labelNames,
        registers: [registry],
        collect: () => {
          m.reset();
          row.collect((labels, v) => m.set(labels, v), src);
        },
      });
    }
  }
  registry.registerMetric(new DurationHistogram(src) as unknown as Metric);
  return registry;
}

/**
 * istio_request_duration_milliseconds, from the bucket counts RpcStats keeps per status
 * (prom-client's Histogram would hash the labels on every observation). Registry only
 * calls get(), so this is all a metric needs to be.
 */
class DurationHistogram {
  readonly name = "istio_request_duration_milliseconds";
  readonly help = "RPC duration in ms, from the request's arrival to the end of the response (Istio standard metric)";
  readonly type = "histogram";
  readonly aggregator = "sum";

  constructor(private readonly src: MetricsSource) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Labels; value: number; metricName: string }[] } {
    const values: { labels: Labels; value: number; metricName: string }[] = [];
    for (const h of this.src.stats.hosts.values()) {
      for (const cell of h.cells) {
        if (cell === undefined) continue;
        const labels = istioLabels(h.host, cell);
        let cumulative = 0;
        DURATION_BUCKETS_MS.forEach((le, i) => {
          cumulative += cell.buckets[i] ?? 0;
          values.push({ labels: { ...labels, le: String(le) }, value: cumulative, metricName: `${this.name}_bucket` });
        });
        values.push({ labels: { ...labels, le: "+Inf" }, value: cell.count, metricName: `${this.name}_bucket` });
        values.push({ labels, value: cell.sumMs, metricName: `${this.name}_sum` });
        values.push({ labels, value: cell.count, metricName: `${this.name}_count` });
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
