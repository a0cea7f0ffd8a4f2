// sluice's own resource (apiVersion sluice.dev/v1alpha1, kind Proxy) for what Istio has no
// field for: where to listen, the balancing mode, downstream keepalive and connection age,
// upstream keepalive, active health checks, the drain timeout on shutdown, the admin
// server's access log and imbalance warning, TLS on the listener and the workload certificates.
import { describe } from "./diagnostics.js";
import { formatDuration } from "./duration.js";
import { ADMIN_ADDRESS_HELP, HOST_PORT_HELP, parseAdminAddress, parseHostPort, type HostPort } from "./host-port.js";
import { INT32_MAX } from "./limits.js";
import type { MapReader } from "./reader.js";
import type { ResourceMeta } from "./resource-meta.js";
import { parseDownstreamTls, parseTrustDomain, parseWorkloadDirectory } from "./listener-tls.js";
import type { DownstreamTlsSettings, LatencyOutlierSettings, ProxyMode, TransportKind } from "./types.js";

export interface ParsedProxy {
  readonly kind: "Proxy";
  readonly meta: ResourceMeta;
  readonly listen?: HostPort;
  /** spec.tls, files checked; absent = plaintext (or spec.tls had problems, reported). */
  readonly tls?: DownstreamTlsSettings;
  /** spec.workloadCertificates (resolved) and its line, for ISTIO_MUTUAL's file problems. */
  readonly workloadCertificates?: { readonly directory: string; readonly line: number };
  readonly trustDomain?: string;
  /** null: "none", no admin server. */
  readonly admin?: HostPort | null;
  readonly mode?: ProxyMode;
  readonly transport?: TransportKind;
  readonly defaultHost?: { readonly name: string; readonly line: number };
  readonly keepalive: {
    readonly timeMs?: number;
    readonly timeoutMs?: number;
    readonly minPingIntervalMs?: number;
    readonly permitWithoutCalls?: boolean;
  };
  readonly maxConnectionAgeMs?: number;
  readonly maxConnectionAgeGraceMs?: number;
  readonly maxConnectionIdleMs?: number;
  readonly maxConcurrentStreams?: number;
  readonly maxConnections?: number;
  readonly maxPrematureCancelsPerSecond?: number;
  readonly upstreamKeepalive: {
    readonly timeMs?: number;
    readonly timeoutMs?: number;
  };
  readonly choiceCount?: number;
  readonly retryBufferLimit?: number;
  readonly retryBufferBudget?: number;
  /** spec.outlierDetection.latency, defaults applied; absent = off. */
  readonly latencyOutlier?: LatencyOutlierSettings;
  readonly healthCheck?: ParsedHealthCheck;
  readonly drainTimeoutMs?: number;
  readonly accessLog?: boolean;
  readonly imbalanceWarning?: { readonly threshold?: number; readonly windowMs?: number };
}

/** spec.healthCheck as written; defaults and the hosts' existence are settled in listener.ts. */
export interface ParsedHealthCheck {
  readonly line: number;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly unhealthyThreshold?: number;
  readonly healthyThreshold?: number;
  readonly serviceName?: string;
  readonly hosts?: readonly { readonly value: string; readonly line: number }[];
}

/** Defaults of spec.outlierDetection.latency's fields, once the rule is switched on by naming it. */
export const DEFAULT_LATENCY_OUTLIER: LatencyOutlierSettings = { factor: 3, minRequests: 20 };

/**
 * gRPC servers' default minimum interval between a client's pings (grpc-go and grpc-java
 * `permitKeepAliveTime`, gRFC A8): pinging a backend more often earns GOAWAY too_many_pings.
 */
const SERVER_DEFAULT_MIN_PING_INTERVAL_MS = 5 * 60_000;

export const PROXY_MODES: readonly ProxyMode[] = ["request", "connection"];
export const TRANSPORTS: readonly TransportKind[] = ["h2", "node"];

export function parseProxyResource(r: MapReader, meta: ResourceMeta): ParsedProxy {
  const listen = hostPort(r, "listen");
  const tls = parseDownstreamTls(r.map("tls"));
  const workloadCertificates = parseWorkloadDirectory(r);
  const trustDomain = parseTrustDomain(r);
  const adminValue = r.stringOrNumber("admin");
  const admin = adminValue === undefined ? undefined : parseAdminAddress(adminValue);
  if (admin === undefined && adminValue !== undefined) r.error("admin", `must be ${ADMIN_ADDRESS_HELP}, got ${describe(adminValue)}`);
  const mode = r.enumOf("mode", PROXY_MODES);
  const transport = r.enumOf("transport", TRANSPORTS);
  const defaultHostName = r.string("defaultHost");
  const downstream = r.map("downstream");
  const ka = downstream?.map("keepalive");
  const keepalive = {
    timeMs: ka?.duration("time"),
    timeoutMs: ka?.duration("timeout"),
    minPingIntervalMs: ka?.duration("minPingInterval"),
    permitWithoutCalls: ka?.bool("permitWithoutCalls"),
  };
  ka?.finish();
  const maxConnectionAgeMs = downstream?.duration("maxConnectionAge");
  const maxConnectionAgeGraceMs = downstream?.duration("maxConnectionAgeGrace");
  const maxConnectionIdleMs = downstream?.duration("maxConnectionIdle", true);
  // HTTP/2 caps the setting at 2^31-1; 0 would refuse every stream.
  const maxConcurrentStreams = downstream?.int("maxConcurrentStreams", { min: 1, max: 0x7fffffff });
  const maxConnections = downstream?.int("maxConnections", { min: 1, max: 10_000_000 });
  const maxPrematureCancelsPerSecond = downstream?.int("maxPrematureCancelsPerSecond", { min: 1, max: 10_000_000 });
  downstream?.finish();
  const upstream = r.map("upstream");
  const uka = upstream?.map("keepalive");
  const upstreamKeepalive = { timeMs: uka?.duration("time"), timeoutMs: uka?.duration("timeout") };
  if (uka !== undefined && upstreamKeepalive.timeMs !== undefined && upstreamKeepalive.timeMs < SERVER_DEFAULT_MIN_PING_INTERVAL_MS) {
    uka.warn(
      "time",
      `pings every ${formatDuration(upstreamKeepalive.timeMs)}: gRPC backends left at their defaults allow one every ${formatDuration(SERVER_DEFAULT_MIN_PING_INTERVAL_MS)} and answer more with GOAWAY too_many_pings (raise their permitKeepAliveTime / MinTime)`,
    );
  }
  uka?.finish();
  upstream?.finish();
  const lr = r.map("leastRequest");
  // Envoy's least_request choice_count: at least 2 (1 would be random).
  const choiceCount = lr?.int("choiceCount", { min: 2, max: 100 });
  lr?.finish();
  // Request bytes kept so a retry can replay them (Envoy's per_request_buffer_limit_bytes).
  const retryBufferLimit = r.int("retryBufferLimit", { min: 0, max: 64 * 1024 * 1024 });
  // The same bytes over all of a cluster's RPCs (gRPC's channel-wide retryBufferSize).
  const retryBufferBudget = r.int("retryBufferBudget", { min: 0, max: 1024 * 1024 * 1024 });
  const latencyOutlier = parseLatencyOutlier(r);
  const healthCheck = parseHealthCheck(r.map("healthCheck"));
  const drainTimeoutMs = r.duration("drainTimeout");
  const accessLog = r.bool("accessLog");
  const iw = r.map("imbalanceWarning");
  const threshold = iw?.number("threshold", { min: 1 });
  if (threshold !== undefined && threshold <= 1)
    iw?.error("threshold", `must be a number > 1 (the busiest endpoint's request rate over the mean), got ${threshold}`);
  const imbalanceWarning =
    iw === undefined
      ? undefined
      : dropUndefined({ threshold: threshold !== undefined && threshold > 1 ? threshold : undefined, windowMs: iw.duration("window") });
  iw?.finish();
  r.finish();
  return dropUndefined({
    kind: "Proxy" as const,
    meta,
    listen,
    tls,
    workloadCertificates,
    trustDomain,
    admin,
    mode,
    transport,
    defaultHost: defaultHostName === undefined ? undefined : { name: defaultHostName, line: r.lineOf("defaultHost") },
    keepalive: dropUndefined(keepalive),
    maxConnectionAgeMs,
    maxConnectionAgeGraceMs,
    maxConnectionIdleMs,
    maxConcurrentStreams,
    maxConnections,
    maxPrematureCancelsPerSecond,
    upstreamKeepalive: dropUndefined(upstreamKeepalive),
    choiceCount,
    retryBufferLimit,
    retryBufferBudget,
    latencyOutlier,
    healthCheck,
    drainTimeoutMs,
    accessLog,
    imbalanceWarning,
  });
}

function parseLatencyOutlier(r: MapReader): LatencyOutlierSettings | undefined {
  const od = r.map("outlierDetection");
  const latency = od?.map("latency");
  let result: LatencyOutlierSettings | undefined;
  if (latency !== undefined) {
    const factor = latency.number("factor", { min: 1 });
    if (factor !== undefined && factor <= 1)
      latency.error("factor", `must be a number > 1 (an endpoint is an outlier when its p99 is over factor x the others' median p99), got ${factor}`);
    const minRequests = latency.int("minRequests", { min: 1, max: 1_000_000 });
    latency.finish();
    result = {
      factor: factor !== undefined && factor > 1 ? factor : DEFAULT_LATENCY_OUTLIER.factor,
      minRequests: minRequests ?? DEFAULT_LATENCY_OUTLIER.minRequests,
    };
  }
  od?.finish();
  return result;
}

function parseHealthCheck(hc: MapReader | undefined): ParsedHealthCheck | undefined {
  if (hc === undefined) return undefined;
  const parsed = dropUndefined({
    line: hc.line,
    intervalMs: hc.duration("interval"),
    timeoutMs: hc.duration("timeout"),
    // Envoy requires both thresholds to be set and at least 1.
    unhealthyThreshold: hc.int("unhealthyThreshold", { min: 1, max: INT32_MAX }),
    healthyThreshold: hc.int("healthyThreshold", { min: 1, max: INT32_MAX }),
    serviceName: hc.string("serviceName"),
    hosts: hc.stringItems("hosts"),
  });
  if (parsed.hosts !== undefined && parsed.hosts.length === 0) {
    hc.error("hosts", "must name at least one ServiceEntry host; leave it out to check every host");
  }
  hc.finish();
  return parsed;
}

function hostPort(r: MapReader, key: string): HostPort | undefined {
  const text = r.string(key);
  if (text === undefined) return undefined;
  const hp = parseHostPort(text);
  if (hp === undefined) r.error(key, `must be ${HOST_PORT_HELP}, got ${describe(text)}`);
  return hp;
}

/** Optional properties are left out rather than set to undefined. */
function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
