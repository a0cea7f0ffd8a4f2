// One xDS Cluster (plus its ClusterLoadAssignment) -> a sluice Cluster: the reverse of
// clusterResource() and loadAssignment() in xds-server/to-xds.ts. A field left unset gets Envoy's
// default, as an Envoy fed the same resource would use (circuit breakers 1024/1024/1024/3,
// connect timeout 5 s, healthy panic threshold 50%), so a control plane written for Envoy
// means the same thing to sluice; sluice's own control plane sets every field it maps. TLS
// (transport_socket) is honoured exactly or the cluster is refused: from-xds-tls.ts.
import { isIP } from "node:net";
import { DEFAULT_CHOICE_COUNT } from "../config/listener.js";
import {
  DEFAULT_CONNECTION_POOL,
  DEFAULT_MAGLEV_TABLE_SIZE,
  DEFAULT_MINIMUM_RING_SIZE,
  DEFAULT_OUTLIER_DETECTION,
  isPrime,
  limitOrUnlimited,
  MAX_MAGLEV_TABLE_SIZE,
  MAX_RING_SIZE,
} from "../config/limits.js";
import { MAX_TIMER_MS } from "../core/clock.js";
import type {
  Cluster,
  ConnectionPoolSettings,
  Endpoint,
  HashKeySource,
  LoadBalancerSettings,
  OutlierDetectionSettings,
  RetryBudget,
  SimpleLb,
} from "../config/types.js";
import { anyType, durationMs, fields, list, num, records, text, wrapped, type Fields, type Problems } from "./from-xds-fields.js";
import { TYPE_URL, UINT32_MAX, unpackAny, type AnyMessage } from "../xds-proto/protos.js";
import type { DecodedResource } from "./decoded-resources.js";
import { tlsFromXds } from "./from-xds-tls.js";

/** Envoy's circuit breaker defaults when a threshold is unset. */
const ENVOY_THRESHOLDS = { maxConnections: 1024, maxPending: 1024, maxRequests: 1024, maxRetries: 3 } as const;
const ENVOY_CONNECT_TIMEOUT_MS = 5000;
const ENVOY_PANIC_THRESHOLD = 50;
/** Envoy's upper bound on an endpoint's load-balancing weight (and sluice's, from files). */
export const MAX_ENDPOINT_WEIGHT = 128;

/**
 * What a ring hash cluster hashes when no route gives it a hash_policy: Envoy then hashes each
 * request at random; a header no request carries does the same in sluice (no key: random).
 */
export const NO_HASH_POLICY: HashKeySource = { kind: "header", name: "" };

/** sluice's `host|port|subset` parts of an xDS cluster name. */
export interface ClusterIdentity {
  readonly host: string;
  readonly port: number;
  readonly subset: string | null;
}

const ISTIO_NAME = /^outbound\|(\d{1,5})\|([^|]*)\|(.+)$/;
/** The same name as Istio writes it where `|` is not allowed (SNI): `outbound_.PORT_.SUBSET_.HOST`. */
const ISTIO_SNI_NAME = /^outbound_\.(\d{1,5})_\.([^_]*)_\.(.+)$/;

/** Istio's `outbound|PORT|SUBSET|HOST`; any other name becomes host NAME, port 0, no subset. */
export function clusterIdentity(xdsName: string): ClusterIdentity {
  const m = ISTIO_NAME.exec(xdsName) ?? ISTIO_SNI_NAME.exec(xdsName);
  const port = Number(m?.[1]);
  if (m === null || port > 65535) return { host: xdsName, port: 0, subset: null };
  return { host: m[3] ?? xdsName, port, subset: m[2] === "" || m[2] === undefined ? null : m[2] };
}

const KNOWN: ReadonlySet<string> = new Set([
  "name",
  "type",
  "eds_cluster_config",
  "load_assignment",
  "connect_timeout",
  "lb_policy",
  "least_request_lb_config",
  "ring_hash_lb_config",
  "maglev_lb_config",
  "load_balancing_policy",
  "circuit_breakers",
  "outlier_detection",
  "common_lb_config",
  "max_requests_per_connection",
  "common_http_protocol_options",
  "http2_protocol_options",
  "typed_extension_protocol_options",
  "transport_socket",
  "transport_socket_matches",
]);

/** Naming, stats, DNS and buffer tuning: nothing that changes where an RPC goes. */
const IGNORED: ReadonlySet<string> = new Set([
  "alt_stat_name",
  "metadata",
  "dns_lookup_family",
  "dns_refresh_rate",
  "dns_failure_refresh_rate",
  "respect_dns_ttl",
  "dns_jitter",
  "per_connection_buffer_limit_bytes",
  "cleanup_interval",
  "lrs_server",
  "track_cluster_stats",
  "track_timeout_budgets",
  "upstream_connection_options",
  "connection_pool_per_downstream_connection",
  "protocol_selection",
]);

/**
 * `hashKey`: the key the routes' hash_policy gives this cluster (undefined: no route says);
 * `assignment`: its ClusterLoadAssignment (EDS). Returns undefined for a cluster sluice cannot
 * send traffic to (its routes then lose it), with the reason in `problems`.
 */
export function clusterFromXds(
  name: string,
  c: DecodedResource,
  assignment: DecodedResource | undefined,
  hashKey: HashKeySource | undefined,
  problems: Problems,
): Cluster | undefined {
  const where = `Cluster ${name}`;
  problems.unmapped(where, c, KNOWN, IGNORED);
  const type = text(c["type"]) ?? "STATIC";
  let cla: Fields | undefined;
  if (type === "EDS") {
    cla = assignment;
    if (cla === undefined) problems.add(where, "no ClusterLoadAssignment arrived for it; it has no endpoints");
  } else if (type === "STATIC" || type === "STRICT_DNS" || type === "LOGICAL_DNS") {
    cla = fields(c["load_assignment"]);
  } else {
    problems.add(where, `type ${type} is not supported (EDS, STATIC, STRICT_DNS and LOGICAL_DNS are); routes to it are dropped`);
    return undefined;
  }
  const endpoints = cla === undefined ? [] : endpointsFromXds(cla, `ClusterLoadAssignment ${name}`, problems);
  const dns = type !== "EDS" && type !== "STATIC" ? true : endpoints.some((e) => isIP(e.address) === 0);
  const { host, port, subset } = clusterIdentity(name);
  // The ADS client NACKs a Cluster whose TLS cannot be honoured; checked again for callers that map resources themselves.
  const tls = tlsFromXds(c, host);
  if (!tls.ok) {
    problems.add(where, `${tls.reason}; routes to it are dropped`);
    return undefined;
  }
  for (const w of tls.warnings) problems.add(where, w);
  const outlierDetection = outlierFromXds(c, where, problems);
  return {
    name: `${host}|${port}|${subset ?? ""}`,
    host,
    port,
    subset,
    resolution: dns ? "DNS" : "STATIC",
    endpoints,
    policy: {
      loadBalancer: loadBalancerFromXds(c, hashKey, where, problems),
      connectionPool: connectionPoolFromXds(c, where, problems),
      outlierDetection,
      retryBudget: retryBudgetFromXds(c),
      tls: tls.tls,
    },
  };
}

/** Health statuses Envoy and gRPC clients send no traffic to. */
const EXCLUDED_HEALTH = new Set(["UNHEALTHY", "DRAINING", "TIMEOUT"]);

/**
 * Every endpoint of every locality of the highest priority (0, unless none has endpoints),
 * weighted by its own load_balancing_weight, else its locality's, else 1. sluice balances
 * over one flat set: locality weights and lower priorities (failover) have no place there.
 */
export function endpointsFromXds(cla: Fields, where: string, problems: Problems): Endpoint[] {
  problems.unmapped(where, cla, new Set(["cluster_name", "endpoints", "policy", "named_endpoints"]));
  if (cla["named_endpoints"] !== undefined) problems.add(where, "named_endpoints are not supported; ignored");
  const policy = fields(cla["policy"]);
  if (policy !== undefined && list(policy["drop_overloads"]).length > 0) problems.add(where, "policy.drop_overloads is not supported; nothing is dropped");
  const localities = records(cla["endpoints"]);
  const priorities = localities.map((l) => num(l["priority"]) ?? 0);
  // A loop, not Math.min(...): a control plane may send more localities than the stack holds arguments.
  let top = Infinity;
  for (const p of priorities) if (p < top) top = p;
  if (top === Infinity) top = 0;
  const out: Endpoint[] = [];
  const seen = new Set<string>();
  localities.forEach((l, i) => {
    const priority = priorities[i] ?? 0;
    const lbEndpoints = list(l["lb_endpoints"]);
    if (priority !== top) {
      if (lbEndpoints.length > 0)
        problems.add(where, `${lbEndpoints.length} endpoint(s) of priority ${priority} (failover) ignored: sluice balances over priority ${top} only`);
      return;
    }
    const localityWeight = wrapped(l["load_balancing_weight"]);
    for (const raw of lbEndpoints) {
      const e = fields(raw);
      if (e === undefined || EXCLUDED_HEALTH.has(text(e["health_status"]) ?? "")) continue;
      const socket = fields(fields(fields(e["endpoint"])?.["address"])?.["socket_address"]);
      const address = text(socket?.["address"]);
      const port = num(socket?.["port_value"]);
      if (address === undefined || address === "" || port === undefined || port < 1 || port > 65535) {
        problems.add(where, `an endpoint without a socket address and port_value is not supported; ignored (${JSON.stringify(e["endpoint"] ?? e)})`);
        continue;
      }
      const key = `${address}:${port}`;
      if (seen.has(key)) {
        problems.add(where, `endpoint ${key} is listed twice; the first is used`);
        continue;
      }
      seen.add(key);
      const weight = wrapped(e["load_balancing_weight"]) ?? localityWeight ?? 1;
      out.push({ address, port, weight: Math.max(1, weight), labels: {} });
    }
  });
  return capWeights(out, where, problems);
}

/**
 * Weights above 128 (Envoy's and sluice's bound) are scaled down, all of them by one factor
 * so the ratios hold as far as whole numbers 1..128 allow.
 */
function capWeights(endpoints: Endpoint[], where: string, problems: Problems): Endpoint[] {
  let max = 0;
  for (const e of endpoints) if (e.weight > max) max = e.weight;
  if (max <= MAX_ENDPOINT_WEIGHT) return endpoints;
  problems.add(
    where,
    `endpoint weights up to ${max} are above ${MAX_ENDPOINT_WEIGHT}; they are scaled down in proportion (the largest to ${MAX_ENDPOINT_WEIGHT})`,
  );
  return endpoints.map((e) => ({ ...e, weight: Math.max(1, Math.min(MAX_ENDPOINT_WEIGHT, Math.round((e.weight * MAX_ENDPOINT_WEIGHT) / max))) }));
}

const POLICY_BY_LB: Readonly<Record<string, SimpleLb>> = { ROUND_ROBIN: "ROUND_ROBIN", LEAST_REQUEST: "LEAST_REQUEST", RANDOM: "RANDOM" };

/**
 * load_balancing_policy (gRFC A52, Envoy's newer field) when it names a policy sluice has,
 * the first such, as gRPC clients choose; else lb_policy. Ring hash and maglev take the key
 * from the routes' hash_policy.
 */
function loadBalancerFromXds(c: Fields, hashKey: HashKeySource | undefined, where: string, problems: Problems): LoadBalancerSettings {
  const key = hashKey ?? NO_HASH_POLICY;
  const listed = fields(c["load_balancing_policy"]);
  if (listed !== undefined) {
    for (const p of list(listed["policies"])) {
      const config = fields(fields(p)?.["typed_extension_config"])?.["typed_config"];
      const chosen = policyFromExtension(config, key, where, problems);
      if (chosen !== undefined) return chosen;
    }
    problems.add(where, "load_balancing_policy names no policy sluice has; lb_policy is used");
  }
  const lb = text(c["lb_policy"]) ?? "ROUND_ROBIN";
  if (lb === "RING_HASH") {
    const ring = fields(c["ring_hash_lb_config"]) ?? {};
    const fn = text(ring["hash_function"]) ?? "XX_HASH";
    if (fn !== "XX_HASH") problems.add(where, `ring_hash_lb_config.hash_function ${fn} is not supported; sluice hashes with xxHash`);
    if (ring["maximum_ring_size"] !== undefined) problems.add(where, "ring_hash_lb_config.maximum_ring_size is not supported; sluice caps rings at 8M entries");
    let minimum = wrapped(ring["minimum_ring_size"]) ?? 0;
    if (minimum > MAX_RING_SIZE) {
      problems.add(where, `ring_hash_lb_config.minimum_ring_size ${minimum} is above sluice's ${MAX_RING_SIZE}; ${DEFAULT_MINIMUM_RING_SIZE} is used`);
      minimum = 0;
    }
    return { kind: "consistentHash", key, algorithm: { kind: "ringHash", minimumRingSize: minimum === 0 ? DEFAULT_MINIMUM_RING_SIZE : minimum } };
  }
  if (lb === "MAGLEV") {
    let size = wrapped(fields(c["maglev_lb_config"])?.["table_size"]) ?? 0;
    if (size !== 0 && (!isPrime(size) || size > MAX_MAGLEV_TABLE_SIZE)) {
      problems.add(where, `maglev_lb_config.table_size ${size} is not a prime up to ${MAX_MAGLEV_TABLE_SIZE}; ${DEFAULT_MAGLEV_TABLE_SIZE} is used`);
      size = 0;
    }
    return { kind: "consistentHash", key, algorithm: { kind: "maglev", tableSize: size === 0 ? DEFAULT_MAGLEV_TABLE_SIZE : size } };
  }
  if (lb === "LEAST_REQUEST") checkChoiceCount(fields(c["least_request_lb_config"]), where, problems);
  const policy = POLICY_BY_LB[lb];
  if (policy !== undefined) return { kind: "simple", policy };
  problems.add(where, `lb_policy ${lb} is not supported; round robin is used`);
  return { kind: "simple", policy: "ROUND_ROBIN" };
}

const EXTENSION = "type.googleapis.com/envoy.extensions.load_balancing_policies.";

function policyFromExtension(config: unknown, key: HashKeySource, where: string, problems: Problems): LoadBalancerSettings | undefined {
  const type = anyType(config);
  if (type === undefined || !type.startsWith(EXTENSION)) return undefined;
  switch (type.slice(EXTENSION.length)) {
    case "least_request.v3.LeastRequest":
      checkChoiceCount(decodeAny(config, TYPE_URL.leastRequest), where, problems);
      return { kind: "simple", policy: "LEAST_REQUEST" };
    case "round_robin.v3.RoundRobin":
      return { kind: "simple", policy: "ROUND_ROBIN" };
    case "random.v3.Random":
      return { kind: "simple", policy: "RANDOM" };
    case "ring_hash.v3.RingHash":
      // Its settings message is not among the protos sluice loads: Envoy's defaults.
      problems.add(where, "load_balancing_policy RingHash: its settings are not read; minimum ring size 1024");
      return { kind: "consistentHash", key, algorithm: { kind: "ringHash", minimumRingSize: DEFAULT_MINIMUM_RING_SIZE } };
    case "maglev.v3.Maglev":
      problems.add(where, `load_balancing_policy Maglev: its settings are not read; table size ${DEFAULT_MAGLEV_TABLE_SIZE}`);
      return { kind: "consistentHash", key, algorithm: { kind: "maglev", tableSize: DEFAULT_MAGLEV_TABLE_SIZE } };
    default:
      return undefined;
  }
}

function decodeAny(config: unknown, typeUrl: string): Fields | undefined {
  const value = fields(config)?.["value"];
  if (!(value instanceof Uint8Array)) return undefined;
  try {
    return unpackAny({ type_url: typeUrl, value } satisfies AnyMessage);
  } catch {
    return undefined;
  }
}

/** choice_count is the Proxy resource's leastRequestChoiceCount in sluice, one for every cluster. */
function checkChoiceCount(config: Fields | undefined, where: string, problems: Problems): void {
  const n = wrapped(config?.["choice_count"]);
  if (n !== undefined && n !== DEFAULT_CHOICE_COUNT) {
    problems.add(where, `least request choice_count ${n} is not applied per cluster; the Proxy resource's leastRequestChoiceCount is used`);
  }
}

/** The DEFAULT priority's circuit breaker thresholds (sluice has no request priorities). */
function defaultThreshold(c: Fields): Fields | undefined {
  return thresholdsOf(c).find((t) => (text(t["priority"]) ?? "DEFAULT") === "DEFAULT");
}

function thresholdsOf(c: Fields): Fields[] {
  return records(fields(c["circuit_breakers"])?.["thresholds"]);
}

const THRESHOLD_KNOWN: ReadonlySet<string> = new Set(["priority", "max_connections", "max_pending_requests", "max_requests", "max_retries", "retry_budget"]);

function limit(v: unknown, envoyDefault: number): number {
  const n = wrapped(v) ?? envoyDefault;
  return n >= UINT32_MAX ? Infinity : n;
}

/**
 * A connection or request threshold: 0 would let no RPC through (each would wait forever), so
 * it means unlimited, as `0` does in a DestinationRule's connectionPool (limitOrUnlimited).
 */
function nonZeroLimit(t: Fields, field: string, envoyDefault: number, where: string, problems: Problems): number {
  const n = limit(t[field], envoyDefault);
  if (n !== 0) return n;
  problems.add(where, `circuit_breakers ${field} 0 would let no request through; it is taken as unlimited (as 0 in a DestinationRule)`);
  return limitOrUnlimited(n);
}

function connectionPoolFromXds(c: Fields, where: string, problems: Problems): ConnectionPoolSettings {
  if (thresholdsOf(c).some((t) => text(t["priority"]) === "HIGH")) problems.add(where, "circuit_breakers for priority HIGH are not supported; ignored");
  const t = defaultThreshold(c) ?? {};
  problems.unmapped(`${where} circuit_breakers`, t, THRESHOLD_KNOWN, new Set(["track_remaining"]));
  const d = DEFAULT_CONNECTION_POOL;
  const http = httpOptions(c, where, problems);
  return {
    tcp: {
      maxConnections: nonZeroLimit(t, "max_connections", ENVOY_THRESHOLDS.maxConnections, where, problems),
      connectTimeoutMs:
        timer(positive(durationMs(c["connect_timeout"]), "connect_timeout", where, problems), "connect_timeout", where, problems) ?? ENVOY_CONNECT_TIMEOUT_MS,
      maxConnectionDurationMs: http.maxConnectionDurationMs ?? d.tcp.maxConnectionDurationMs,
      idleTimeoutMs: d.tcp.idleTimeoutMs,
    },
    http: {
      http1MaxPendingRequests: nonZeroLimit(t, "max_pending_requests", ENVOY_THRESHOLDS.maxPending, where, problems),
      http2MaxRequests: nonZeroLimit(t, "max_requests", ENVOY_THRESHOLDS.maxRequests, where, problems),
      maxRequestsPerConnection: http.maxRequestsPerConnection ?? d.http.maxRequestsPerConnection,
      maxRetries: limit(t["max_retries"], ENVOY_THRESHOLDS.maxRetries),
      idleTimeoutMs: http.idleTimeoutMs ?? d.http.idleTimeoutMs,
      maxConcurrentStreams: http.maxConcurrentStreams ?? d.http.maxConcurrentStreams,
    },
  };
}

interface HttpOptions {
  maxRequestsPerConnection?: number;
  idleTimeoutMs?: number;
  maxConnectionDurationMs?: number;
  maxConcurrentStreams?: number;
}

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/**
 * The upstream HTTP options: from typed_extension_protocol_options' HttpProtocolOptions (where
 * Istio and sluice's control plane write them), else from the Cluster's deprecated own fields.
 */
function httpOptions(c: Fields, where: string, problems: Problems): HttpOptions {
  const out: HttpOptions = {};
  let typed: Fields | undefined;
  for (const [key, value] of Object.entries(fields(c["typed_extension_protocol_options"]) ?? {})) {
    if (key !== HTTP_PROTOCOL_OPTIONS) {
      problems.add(where, `typed_extension_protocol_options ${key}: not supported; ignored`);
      continue;
    }
    typed = decodeAny(value, TYPE_URL.httpProtocolOptions);
    if (typed === undefined) problems.add(where, `typed_extension_protocol_options ${key}: cannot be decoded; ignored`);
  }
  // Field by field: the typed options first, then the Cluster's deprecated fields.
  const commons = [fields(typed?.["common_http_protocol_options"]), fields(c["common_http_protocol_options"])];
  const first = (field: string): unknown => commons.map((o) => o?.[field]).find((v) => v !== undefined);
  const http2 = fields(fields(typed?.["explicit_http_config"])?.["http2_protocol_options"]) ?? fields(c["http2_protocol_options"]);
  const perConnection = wrapped(first("max_requests_per_connection")) ?? wrapped(c["max_requests_per_connection"]);
  if (perConnection !== undefined) out.maxRequestsPerConnection = perConnection;
  const idle = durationMs(first("idle_timeout"));
  if (idle !== undefined && idle > 0) out.idleTimeoutMs = idle;
  const lifetime = durationMs(first("max_connection_duration"));
  if (lifetime !== undefined && lifetime > 0) out.maxConnectionDurationMs = lifetime;
  const streams = wrapped(http2?.["max_concurrent_streams"]);
  if (streams !== undefined && streams > 0) out.maxConcurrentStreams = streams >= 2147483647 ? Infinity : streams;
  return out;
}

const OUTLIER_KNOWN: ReadonlySet<string> = new Set([
  "consecutive_5xx",
  "enforcing_consecutive_5xx",
  "consecutive_gateway_failure",
  "enforcing_consecutive_gateway_failure",
  "interval",
  "base_ejection_time",
  "max_ejection_percent",
  "split_external_local_origin_errors",
  "consecutive_local_origin_failure",
  "enforcing_consecutive_local_origin_failure",
]);

/** Success-rate and failure-percentage ejection settings: harmless while their enforcing_* is 0. */
const OUTLIER_STATISTICAL: ReadonlySet<string> = new Set([
  "enforcing_success_rate",
  "success_rate_minimum_hosts",
  "success_rate_request_volume",
  "success_rate_stdev_factor",
  "enforcing_failure_percentage",
  "enforcing_failure_percentage_local_origin",
  "enforcing_local_origin_success_rate",
  "failure_percentage_minimum_hosts",
  "failure_percentage_request_volume",
  "failure_percentage_threshold",
]);

/** Envoy's outlier_detection, as Istio writes it (cluster_traffic_policy.go), Envoy's defaults for the rest. */
function outlierFromXds(c: Fields, where: string, problems: Problems): OutlierDetectionSettings | null {
  const panic = wrapped(fields(c["common_lb_config"])?.["healthy_panic_threshold"]);
  const lbConfig = fields(c["common_lb_config"]);
  if (lbConfig !== undefined) problems.unmapped(`${where} common_lb_config`, lbConfig, new Set(["healthy_panic_threshold", "locality_weighted_lb_config"]));
  const o = fields(c["outlier_detection"]);
  if (o === undefined) {
    if (panic !== undefined && panic > 0)
      problems.add(where, "common_lb_config.healthy_panic_threshold applies only with outlier_detection in sluice; ignored");
    return null;
  }
  problems.unmapped(`${where} outlier_detection`, o, OUTLIER_KNOWN, OUTLIER_STATISTICAL);
  for (const f of [
    "enforcing_success_rate",
    "enforcing_failure_percentage",
    "enforcing_failure_percentage_local_origin",
    "enforcing_local_origin_success_rate",
  ]) {
    const n = wrapped(o[f]);
    if (n !== undefined && n > 0) problems.add(where, `outlier_detection.${f} ${n}: statistical ejection is not supported; only consecutive errors eject`);
  }
  const d = DEFAULT_OUTLIER_DETECTION;
  const enforced = (count: string, enforcing: string, envoyCount: number, envoyEnforcing: number): number =>
    (wrapped(o[enforcing]) ?? envoyEnforcing) === 0 ? 0 : (wrapped(o[count]) ?? envoyCount);
  if (wrapped(o["enforcing_consecutive_local_origin_failure"]) === 0) {
    problems.add(where, "outlier_detection.enforcing_consecutive_local_origin_failure 0 is not supported; local origin failures eject");
  }
  return {
    consecutive5xxErrors: enforced("consecutive_5xx", "enforcing_consecutive_5xx", 5, 100),
    consecutiveGatewayErrors: enforced("consecutive_gateway_failure", "enforcing_consecutive_gateway_failure", 5, 0),
    intervalMs:
      timer(positive(durationMs(o["interval"]), "outlier_detection.interval", where, problems), "outlier_detection.interval", where, problems) ?? d.intervalMs,
    baseEjectionTimeMs: timer(durationMs(o["base_ejection_time"]), "outlier_detection.base_ejection_time", where, problems) ?? d.baseEjectionTimeMs,
    maxEjectionPercent: Math.min(100, wrapped(o["max_ejection_percent"]) ?? d.maxEjectionPercent),
    minHealthPercent: Math.min(100, panic ?? ENVOY_PANIC_THRESHOLD),
    splitExternalLocalOriginErrors: o["split_external_local_origin_errors"] === true,
    consecutiveLocalOriginFailures: wrapped(o["consecutive_local_origin_failure"]) ?? d.consecutiveLocalOriginFailures,
  };
}

/** A duration the proxy runs timers on: 0 would spin, so it is a problem and the default applies. */
function positive(ms: number | undefined, field: string, where: string, problems: Problems): number | undefined {
  if (ms !== 0) return ms;
  problems.add(where, `${field} 0 is not allowed; the default is used`);
  return undefined;
}

/** A duration the proxy arms one timer with: setTimeout takes at most 2^31-1 ms (about 24.8 days). */
function timer(ms: number | undefined, field: string, where: string, problems: Problems): number | undefined {
  if (ms === undefined || ms <= MAX_TIMER_MS) return ms;
  problems.add(where, `${field} ${ms} ms is above the longest timer (${MAX_TIMER_MS} ms); ${MAX_TIMER_MS} ms is used`);
  return MAX_TIMER_MS;
}

/** Envoy's retry_budget on the DEFAULT thresholds (it replaces max_retries there, as in sluice). */
function retryBudgetFromXds(c: Fields): RetryBudget | null {
  const budget = fields(defaultThreshold(c)?.["retry_budget"]);
  if (budget === undefined) return null;
  return {
    percent: wrapped(budget["budget_percent"]) ?? 20,
    minRetryConcurrency: wrapped(budget["min_retry_concurrency"]) ?? 3,
  };
}
