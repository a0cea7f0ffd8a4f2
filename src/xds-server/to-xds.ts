// ProxyConfig -> the xDS resources a proxyless gRPC client asks for, shaped the way istiod
// serves them to proxyless gRPC (its grpcgen): per ServiceEntry host and port a Listener
// `host:port` (and `host` for the first port, which is what `xds:///host` asks for; istiod
// wants the port in the target), an ApiListener whose HttpConnectionManager fetches over ADS
// a RouteConfiguration named like the port's default cluster (`outbound|PORT||HOST`, as
// istiod's grpcgen names it), Clusters `outbound|PORT|SUBSET|HOST` of type EDS (with TLS, a
// transport_socket: to-xds-tls.ts), and their ClusterLoadAssignments.
// Pure: the same config gives byte-identical resources, so the ADS server can diff them.
import { packAny, TYPE_URL, UINT32_MAX, type AnyMessage } from "../xds-proto/protos.js";
import type {
  Cluster,
  ConnectionPoolSettings,
  HttpRoute,
  Limit,
  OutlierDetectionSettings,
  ProxyConfig,
  RetryPolicy,
  RouteMatch,
  TrafficPolicy,
  VirtualHost,
} from "../config/types.js";
import { domainsOf } from "../config/hosts.js";
import { ISTIO_DEFAULT_RETRY } from "../config/retry.js";
import { NEUTRAL_WEIGHT, type Weights } from "./load-weights.js";
import { tlsFields } from "./to-xds-tls.js";

/** The four resource kinds, by type URL, each a map from resource name to its encoding. */
export interface ResourceSet {
  readonly byType: ReadonlyMap<string, ReadonlyMap<string, AnyMessage>>;
}

/** Istio's outbound cluster name (`outbound|50051||echo`); EDS uses the same name. */
export function xdsClusterName(c: Pick<Cluster, "host" | "port" | "subset">): string {
  return `outbound|${c.port}|${c.subset ?? ""}|${c.host}`;
}

/**
 * `--weights-from-load`: clusters ask their clients for load reports (LRS, to this server),
 * and each endpoint sits in a locality of its own, weighted with what was learned.
 */
export interface LoadWeighting {
  /** Learned weights (1..100) by xDS cluster name and `ADDRESS:PORT`; absent = neutral. */
  readonly weights: Weights;
}

/** `options` absent: the resources without load weighting, byte for byte as before it existed. */
export function buildResources(config: ProxyConfig, weighting?: LoadWeighting): ResourceSet {
  const listeners = new Map<string, AnyMessage>();
  const routes = new Map<string, AnyMessage>();
  const clusters = new Map<string, AnyMessage>();
  const endpoints = new Map<string, AnyMessage>();
  const xdsNames = new Map<string, string>();
  for (const c of config.clusters.values()) xdsNames.set(c.name, xdsClusterName(c));

  // Ports per host, in config order: the first is the one a bare `xds:///host` reaches.
  const portsByHost = new Map<string, number[]>();
  for (const c of config.clusters.values()) {
    const name = xdsClusterName(c);
    const weighted = weighting !== undefined && loadWeighted(c);
    const cluster = { ...clusterResource(c, name, config.listener.leastRequestChoiceCount), ...tlsFields(c, config.listener.workloadCertificates) };
    clusters.set(name, packAny(TYPE_URL.cluster, weighted ? withLoadReporting(cluster) : cluster));
    const cla = weighted ? weightedLoadAssignment(c, name, weighting.weights.get(name)) : loadAssignment(c, name);
    endpoints.set(name, packAny(TYPE_URL.endpoint, cla));
    if (c.subset !== null) continue;
    const ports = portsByHost.get(c.host) ?? [];
    if (!ports.includes(c.port)) ports.push(c.port);
    portsByHost.set(c.host, ports);
  }

  for (const [host, ports] of portsByHost) {
    const vh = virtualHostFor(config.virtualHosts, host);
    for (const [i, port] of ports.entries()) {
      const routeName = xdsClusterName({ host, port, subset: null });
      const listenerName = `${host}:${port}`;
      listeners.set(listenerName, packAny(TYPE_URL.listener, listener(listenerName, routeName)));
      if (i === 0) listeners.set(host, packAny(TYPE_URL.listener, listener(host, routeName)));
      // VirtualService routes apply to the first port; other ports route to their own cluster.
      routes.set(routeName, packAny(TYPE_URL.route, routeConfiguration(routeName, host, port, i === 0, i === 0 ? vh : undefined, config, xdsNames)));
    }
  }
  return {
    byType: new Map([
      [TYPE_URL.listener, listeners],
      [TYPE_URL.route, routes],
      [TYPE_URL.cluster, clusters],
      [TYPE_URL.endpoint, endpoints],
    ]),
  };
}

function virtualHostFor(vhs: readonly VirtualHost[], host: string): VirtualHost | undefined {
  const wanted = host.toLowerCase();
  return vhs.find((vh) => vh.domains.includes(wanted));
}

const ADS_SOURCE = { ads: {}, resource_api_version: "V3" };

function listener(name: string, routeName: string): Record<string, unknown> {
  const hcm = packAny(TYPE_URL.httpConnectionManager, {
    stat_prefix: name,
    rds: { config_source: ADS_SOURCE, route_config_name: routeName },
    http_filters: [{ name: "envoy.filters.http.router", typed_config: packAny(TYPE_URL.router, {}) }],
  });
  return { name, api_listener: { api_listener: hcm } };
}

function routeConfiguration(
  name: string,
  host: string,
  port: number,
  bareHost: boolean,
  vh: VirtualHost | undefined,
  config: ProxyConfig,
  xdsNames: ReadonlyMap<string, string>,
): Record<string, unknown> {
  const domains: string[] = [];
  for (const d of domainsOf(host)) {
    domains.push(`${d}:${port}`);
    if (bareHost) domains.push(d);
  }
  const defaultRoute: HttpRoute = {
    matches: [],
    destinations: [{ cluster: `${host}|${port}|`, weight: 100 }],
    timeoutMs: null,
    retry: ISTIO_DEFAULT_RETRY,
  };
  const httpRoutes = vh?.routes ?? [defaultRoute];
  const routes = httpRoutes.flatMap((r) => routeEntries(r, config, xdsNames));
  return { name, virtual_hosts: [{ name: `${host}:${port}`, domains, routes }] };
}

/** One Envoy route per match (a VirtualService http route matches when any of its matches does). */
function routeEntries(r: HttpRoute, config: ProxyConfig, xdsNames: ReadonlyMap<string, string>): Record<string, unknown>[] {
  const destinations = r.destinations.filter((d) => d.weight > 0 && xdsNames.has(d.cluster));
  if (destinations.length === 0) return [];
  const action: Record<string, unknown> = {};
  const first = destinations[0];
  if (destinations.length === 1 && first !== undefined) action["cluster"] = xdsNames.get(first.cluster);
  else action["weighted_clusters"] = { clusters: destinations.map((d) => ({ name: xdsNames.get(d.cluster), weight: { value: d.weight } })) };
  if (r.timeoutMs !== null) action["max_stream_duration"] = { max_stream_duration: duration(r.timeoutMs) };
  const hash = first === undefined ? undefined : config.clusters.get(first.cluster)?.policy.loadBalancer;
  if (hash?.kind === "consistentHash" && hash.key.kind === "header") action["hash_policy"] = [{ header: { header_name: hash.key.name } }];
  const retry = retryPolicy(r.retry);
  if (retry !== null) action["retry_policy"] = retry;
  const matches: (RouteMatch | null)[] = r.matches.length === 0 ? [null] : [...r.matches];
  return matches.map((m) => ({ match: routeMatch(m), route: action }));
}

/**
 * Every condition, as Istio sends Envoy: gRPC clients act on the gRPC status names
 * (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) and ignore the
 * rest (gRFC A44); Envoy and `sluice proxy --xds` act on all of them.
 */
function retryPolicy(retry: RetryPolicy): Record<string, unknown> | null {
  if (retry.attempts === 0 || retry.retryOn.size === 0) return null;
  return {
    retry_on: [...retry.retryOn].join(","),
    num_retries: { value: retry.attempts },
    retry_back_off: { base_interval: duration(retry.backoffBaseMs), max_interval: duration(retry.backoffBaseMs * 10) },
    ...(retry.perTryTimeoutMs === null ? {} : { per_try_timeout: duration(retry.perTryTimeoutMs) }),
    ...(retry.retriableStatusCodes.size === 0 ? {} : { retriable_status_codes: [...retry.retriableStatusCodes] }),
    ...(retry.ignorePreviousHosts
      ? {
          retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: packAny(TYPE_URL.previousHosts, {}) }],
          host_selection_retry_max_attempts: 5,
        }
      : {}),
  };
}

function routeMatch(m: RouteMatch | null): Record<string, unknown> {
  const match: Record<string, unknown> = {};
  if (m === null || m.uri === null) match["prefix"] = "";
  else if (m.uri.kind === "exact") match["path"] = m.uri.value;
  else if (m.uri.kind === "prefix") match["prefix"] = m.uri.value;
  else match["safe_regex"] = { regex: m.uri.value };
  if (m !== null && m.headers.length > 0) {
    match["headers"] = m.headers.map((h) => ({
      name: h.name,
      string_match: h.kind === "regex" ? { safe_regex: { regex: h.value } } : { [h.kind]: h.value },
    }));
  }
  return match;
}

function clusterResource(c: Cluster, name: string, choiceCount: number): Record<string, unknown> {
  const p = c.policy;
  return {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: ADS_SOURCE, service_name: name },
    connect_timeout: duration(p.connectionPool.tcp.connectTimeoutMs),
    ...lbFields(p, choiceCount),
    circuit_breakers: {
      thresholds: [
        {
          priority: "DEFAULT",
          max_connections: uint32(p.connectionPool.tcp.maxConnections),
          max_pending_requests: uint32(p.connectionPool.http.http1MaxPendingRequests),
          max_requests: uint32(p.connectionPool.http.http2MaxRequests),
          max_retries: uint32(p.connectionPool.http.maxRetries),
        },
      ],
    },
    ...(p.outlierDetection === null ? {} : outlierFields(p.outlierDetection)),
    ...protocolOptions(p.connectionPool),
  };
}

/**
 * The connection-level settings, where Istio puts them (HttpProtocolOptions): requests per
 * connection, idle timeout, connection lifetime, streams per connection. gRPC clients ignore
 * them; Envoy and `sluice proxy --xds` apply them, and sluice/client's `sluice:///` turns
 * max_requests_per_connection into its connection-cycling policy.
 */
function protocolOptions(pool: ConnectionPoolSettings): Record<string, unknown> {
  const common: Record<string, unknown> = { idle_timeout: duration(pool.http.idleTimeoutMs) };
  if (pool.http.maxRequestsPerConnection > 0) common["max_requests_per_connection"] = { value: pool.http.maxRequestsPerConnection };
  if (pool.tcp.maxConnectionDurationMs !== null) common["max_connection_duration"] = duration(pool.tcp.maxConnectionDurationMs);
  const http2: Record<string, unknown> = Number.isFinite(pool.http.maxConcurrentStreams)
    ? { max_concurrent_streams: uint32(pool.http.maxConcurrentStreams) }
    : {};
  const options = packAny(TYPE_URL.httpProtocolOptions, { common_http_protocol_options: common, explicit_http_config: { http2_protocol_options: http2 } });
  return { typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": options } };
}

/**
 * LEAST_REQUEST is a load_balancing_policy list (gRFC A52, Envoy's newer field, which
 * supersedes lb_policy where it is read): LeastRequest, then RoundRobin, which grpc-js-xds
 * (it has no least_request) picks; grpc-go and grpc-java take LeastRequest. lb_policy says
 * ROUND_ROBIN for clients that read only it: gRPC C-core before 1.55 (grpcio) rejects a
 * Cluster whose lb_policy is LEAST_REQUEST. Maglev becomes RING_HASH: gRPC clients have no maglev.
 */
function lbFields(p: TrafficPolicy, choiceCount: number): Record<string, unknown> {
  const lb = p.loadBalancer;
  if (lb.kind === "consistentHash") {
    const minimum = lb.algorithm.kind === "ringHash" ? lb.algorithm.minimumRingSize : 1024;
    return { lb_policy: "RING_HASH", ring_hash_lb_config: { minimum_ring_size: { value: minimum }, hash_function: "XX_HASH" } };
  }
  if (lb.policy === "LEAST_REQUEST") {
    const leastRequest = packAny(TYPE_URL.leastRequest, { choice_count: { value: choiceCount } });
    return {
      lb_policy: "ROUND_ROBIN",
      least_request_lb_config: { choice_count: { value: choiceCount } },
      load_balancing_policy: {
        policies: [
          { typed_extension_config: { name: "envoy.load_balancing_policies.least_request", typed_config: leastRequest } },
          { typed_extension_config: { name: "envoy.load_balancing_policies.round_robin", typed_config: packAny(TYPE_URL.roundRobin, {}) } },
        ],
      },
    };
  }
  // RANDOM and PASSTHROUGH have no gRPC client policy: round robin is the nearest.
  return { lb_policy: "ROUND_ROBIN" };
}

/** Istio's mapping (networking/core/cluster_traffic_policy.go): success-rate ejection off, consecutive errors on. */
function outlierFields(o: OutlierDetectionSettings): Record<string, unknown> {
  return {
    outlier_detection: {
      consecutive_5xx: { value: o.consecutive5xxErrors },
      enforcing_consecutive_5xx: { value: o.consecutive5xxErrors > 0 ? 100 : 0 },
      consecutive_gateway_failure: { value: o.consecutiveGatewayErrors },
      enforcing_consecutive_gateway_failure: { value: o.consecutiveGatewayErrors > 0 ? 100 : 0 },
      interval: duration(o.intervalMs),
      base_ejection_time: duration(o.baseEjectionTimeMs),
      max_ejection_percent: { value: o.maxEjectionPercent },
      enforcing_success_rate: { value: 0 },
      split_external_local_origin_errors: o.splitExternalLocalOriginErrors,
      consecutive_local_origin_failure: { value: o.consecutiveLocalOriginFailures },
    },
    common_lb_config: { healthy_panic_threshold: { value: o.minHealthPercent } },
  };
}

function loadAssignment(c: Cluster, name: string): Record<string, unknown> {
  return {
    cluster_name: name,
    endpoints: [
      {
        locality: {},
        load_balancing_weight: { value: 1 },
        lb_endpoints: c.endpoints.map((e) => ({
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          health_status: "HEALTHY",
          load_balancing_weight: { value: Math.max(1, e.weight) },
        })),
      },
    ],
  };
}

/** Consistent hash clusters keep today's resources: shifting weights would move keys between endpoints. */
function loadWeighted(c: Cluster): boolean {
  return c.policy.loadBalancer.kind !== "consistentHash";
}

/** The locality (and LRS) name of an endpoint: `ADDRESS:PORT`. */
export function endpointKey(e: { readonly address: string; readonly port: number }): string {
  return `${e.address}:${e.port}`;
}

/** The endpoints whose weights are learned, by xDS cluster name (the same keys as the localities served). */
export function loadWeightedEndpoints(config: ProxyConfig): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of config.clusters.values()) {
    if (loadWeighted(c)) out.set(xdsClusterName(c), [...new Set(c.endpoints.map(endpointKey))]);
  }
  return out;
}

/**
 * Clients report load to the server they got the cluster from (`lrs_server: self`). A
 * load_balancing_policy list is wrapped in WrrLocality (gRFC A52) so that gRPC clients pick
 * localities by weight; Envoy, which has no WrrLocality, takes the next entry (the same
 * policies unwrapped) and honours the endpoint weights.
 */
function withLoadReporting(cluster: Record<string, unknown>): Record<string, unknown> {
  const policy = cluster["load_balancing_policy"] as { policies: unknown[] } | undefined;
  if (policy === undefined) return { ...cluster, lrs_server: { self: {} } };
  const wrrLocality = packAny(TYPE_URL.wrrLocality, { endpoint_picking_policy: policy });
  return {
    ...cluster,
    lrs_server: { self: {} },
    load_balancing_policy: {
      policies: [{ typed_extension_config: { name: "envoy.load_balancing_policies.wrr_locality", typed_config: wrrLocality } }, ...policy.policies],
    },
  };
}

/**
 * One locality per endpoint (sub_zone `ADDRESS:PORT`), since load reports are per locality.
 * Locality weight and endpoint weight are the same number: gRPC clients weigh localities
 * (weighted_target), Envoy weighs endpoints (it ignores locality weights unless told to).
 * The learned weight (1..100) scales the configured one.
 */
function weightedLoadAssignment(c: Cluster, name: string, learned: ReadonlyMap<string, number> | undefined): Record<string, unknown> {
  const byKey = new Map<string, { address: string; port: number; weight: number }>();
  for (const e of c.endpoints) {
    const key = endpointKey(e);
    const prev = byKey.get(key);
    byKey.set(key, { address: e.address, port: e.port, weight: (prev?.weight ?? 0) + Math.max(1, e.weight) });
  }
  // gRPC clients reject a priority whose locality weights sum past 2^32-1.
  const cap = Math.floor(UINT32_MAX / Math.max(1, byKey.size));
  return {
    cluster_name: name,
    endpoints: [...byKey].map(([key, e]) => {
      const weight = Math.min(cap, e.weight * (learned?.get(key) ?? NEUTRAL_WEIGHT));
      return {
        locality: { sub_zone: key },
        load_balancing_weight: { value: weight },
        lb_endpoints: [
          {
            endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
            health_status: "HEALTHY",
            load_balancing_weight: { value: weight },
          },
        ],
      };
    }),
  };
}

function duration(ms: number): { seconds: number; nanos?: number } {
  const nanos = (ms % 1000) * 1_000_000;
  return nanos === 0 ? { seconds: Math.floor(ms / 1000) } : { seconds: Math.floor(ms / 1000), nanos };
}

function uint32(limit: Limit): { value: number } {
  return { value: Number.isFinite(limit) ? Math.min(limit, UINT32_MAX) : UINT32_MAX };
}
