// The one table of which Istio fields sluice implements. Every field the parsers read has a
// row here (the reader refuses a field without one), warnings for "warn" fields come from
// it, and README.md is checked against it by a test, so code, warnings and docs agree.
//
// Paths are relative to the resource, with `[]` for list items and `*` for map keys the user
// names (header names). A trafficPolicy inside a subset or a portLevelSettings entry is read
// with the rows of `spec.trafficPolicy`, as Istio defines them with the same messages.

export type ResourceKind = "DestinationRule" | "ServiceEntry" | "VirtualService" | "Proxy";

/**
 * "supported": the proxy acts on it. "warn": parsed and validated, accepted with one warning
 * per file because sluice does not act on it yet. "refused": read only to refuse it with an
 * error naming what to use instead (a setting whose silent absence would weaken security).
 */
export type SupportStatus = "supported" | "warn" | "refused";

export interface SupportRow {
  readonly kind: ResourceKind;
  readonly path: string;
  /** For rows about one value of an enum field (e.g. resolution NONE). */
  readonly value?: string;
  readonly status: SupportStatus;
  readonly note?: string;
}

type RowSpec = readonly [path: string, status: SupportStatus, note?: string];

function rows(kind: ResourceKind, specs: readonly RowSpec[]): SupportRow[] {
  return specs.map(([path, status, note]) => {
    const eq = path.indexOf("=");
    const base = eq < 0 ? { kind, path } : { kind, path: path.slice(0, eq), value: path.slice(eq + 1) };
    return note === undefined ? { ...base, status } : { ...base, status, note };
  });
}

const S = "supported" as const;
const W = "warn" as const;
const R = "refused" as const;

const METADATA: readonly RowSpec[] = [
  ["metadata", S],
  ["metadata.name", S, "used in messages"],
  ["metadata.namespace", S, "used in messages"],
  ["metadata.labels", W],
  ["metadata.annotations", W],
];

/** Istio's ClientTLSSettings. Any field that cannot be honoured is an error: a config that asks for TLS never runs in plaintext. */
const TLS = (p: string): RowSpec[] => [
  [p, S, "TLS to the endpoints; a field that cannot be honoured is an error"],
  [`${p}.mode`, S, "DISABLE (the default: plaintext), SIMPLE, MUTUAL, ISTIO_MUTUAL"],
  [`${p}.clientCertificate`, S, "MUTUAL: required (PEM chain); relative paths are read from the config file's directory"],
  [`${p}.privateKey`, S, "MUTUAL: required (PEM, unencrypted), must match clientCertificate"],
  [`${p}.caCertificates`, S, "default: the system roots (SIMPLE, MUTUAL), the workload root (ISTIO_MUTUAL, where it must be empty)"],
  [`${p}.credentialName`, R, "no secret discovery: give clientCertificate, privateKey and caCertificates"],
  [`${p}.subjectAltNames`, S, "default: the sni name (SIMPLE, MUTUAL), the endpoint's SPIFFE identity (ISTIO_MUTUAL)"],
  [`${p}.sni`, S, "default: the host (ISTIO_MUTUAL: the cluster's name, as Istio)"],
  [`${p}.insecureSkipVerify`, S, "default false; true warns, and refuses caCertificates, subjectAltNames and caCrl"],
  [`${p}.caCrl`, S, "PEM; server certificates it lists are refused"],
];

const WORKLOAD_SELECTOR: readonly RowSpec[] = [
  ["spec.workloadSelector", W],
  ["spec.workloadSelector.matchLabels", W],
];

const TP = "spec.trafficPolicy";

const DESTINATION_RULE: readonly RowSpec[] = [
  ...METADATA,
  ["spec.host", S],
  [TP, S],
  [`${TP}.loadBalancer`, S],
  [`${TP}.loadBalancer.simple`, S, "LEAST_CONN and UNSPECIFIED mean LEAST_REQUEST"],
  [`${TP}.loadBalancer.consistentHash`, S],
  [`${TP}.loadBalancer.consistentHash.httpHeaderName`, S],
  [`${TP}.loadBalancer.consistentHash.httpCookie`, S],
  [`${TP}.loadBalancer.consistentHash.httpCookie.name`, S],
  [`${TP}.loadBalancer.consistentHash.httpCookie.path`, S],
  [`${TP}.loadBalancer.consistentHash.httpCookie.ttl`, S],
  [`${TP}.loadBalancer.consistentHash.useSourceIp`, S],
  [`${TP}.loadBalancer.consistentHash.httpQueryParameterName`, S],
  [`${TP}.loadBalancer.consistentHash.ringHash`, S],
  [`${TP}.loadBalancer.consistentHash.ringHash.minimumRingSize`, S],
  [`${TP}.loadBalancer.consistentHash.maglev`, S],
  [`${TP}.loadBalancer.consistentHash.maglev.tableSize`, S],
  [`${TP}.loadBalancer.consistentHash.minimumRingSize`, S, "deprecated: use ringHash.minimumRingSize"],
  [`${TP}.loadBalancer.localityLbSetting`, W],
  [`${TP}.loadBalancer.localityLbSetting.enabled`, W],
  [`${TP}.loadBalancer.localityLbSetting.distribute`, W],
  [`${TP}.loadBalancer.localityLbSetting.distribute[].from`, W],
  [`${TP}.loadBalancer.localityLbSetting.distribute[].to`, W],
  [`${TP}.loadBalancer.localityLbSetting.failover`, W],
  [`${TP}.loadBalancer.localityLbSetting.failover[].from`, W],
  [`${TP}.loadBalancer.localityLbSetting.failover[].to`, W],
  [`${TP}.loadBalancer.localityLbSetting.failoverPriority`, W],
  [`${TP}.loadBalancer.warmupDurationSecs`, W],
  [`${TP}.loadBalancer.warmup`, W],
  [`${TP}.loadBalancer.warmup.duration`, W],
  [`${TP}.loadBalancer.warmup.minimumPercent`, W],
  [`${TP}.loadBalancer.warmup.aggression`, W],
  [`${TP}.connectionPool`, S],
  [`${TP}.connectionPool.tcp`, S],
  [`${TP}.connectionPool.tcp.maxConnections`, S],
  [`${TP}.connectionPool.tcp.connectTimeout`, S],
  [`${TP}.connectionPool.tcp.tcpKeepalive`, W],
  [`${TP}.connectionPool.tcp.tcpKeepalive.probes`, W],
  [`${TP}.connectionPool.tcp.tcpKeepalive.time`, W],
  [`${TP}.connectionPool.tcp.tcpKeepalive.interval`, W],
  [`${TP}.connectionPool.tcp.maxConnectionDuration`, S],
  [`${TP}.connectionPool.tcp.idleTimeout`, S],
  [`${TP}.connectionPool.http`, S],
  [`${TP}.connectionPool.http.http1MaxPendingRequests`, S],
  [`${TP}.connectionPool.http.http2MaxRequests`, S],
  [`${TP}.connectionPool.http.maxRequestsPerConnection`, S],
  [`${TP}.connectionPool.http.maxRetries`, S, "RPCs retrying at once; replaced by retryBudget when that is set"],
  [`${TP}.connectionPool.http.idleTimeout`, S],
  [`${TP}.connectionPool.http.h2UpgradePolicy`, W],
  [`${TP}.connectionPool.http.useClientProtocol`, W],
  [`${TP}.connectionPool.http.maxConcurrentStreams`, S],
  [`${TP}.outlierDetection`, S],
  [`${TP}.outlierDetection.consecutiveErrors`, S, "deprecated: use consecutiveGatewayErrors"],
  [`${TP}.outlierDetection.consecutive5xxErrors`, S],
  [`${TP}.outlierDetection.consecutiveGatewayErrors`, S],
  [`${TP}.outlierDetection.consecutiveLocalOriginFailures`, S],
  [`${TP}.outlierDetection.splitExternalLocalOriginErrors`, S],
  [`${TP}.outlierDetection.interval`, S],
  [`${TP}.outlierDetection.baseEjectionTime`, S],
  [`${TP}.outlierDetection.maxEjectionPercent`, S],
  [`${TP}.outlierDetection.minHealthPercent`, S],
  ...TLS(`${TP}.tls`),
  [`${TP}.portLevelSettings`, S, "replaces loadBalancer, connectionPool, outlierDetection and tls for that port"],
  [`${TP}.portLevelSettings[].port`, S],
  [`${TP}.portLevelSettings[].port.number`, S],
  [`${TP}.portLevelSettings[].loadBalancer`, S, "same fields as trafficPolicy.loadBalancer"],
  [`${TP}.portLevelSettings[].connectionPool`, S, "same fields as trafficPolicy.connectionPool"],
  [`${TP}.portLevelSettings[].outlierDetection`, S, "same fields as trafficPolicy.outlierDetection"],
  [`${TP}.portLevelSettings[].tls`, S, "same fields as trafficPolicy.tls"],
  [`${TP}.proxyProtocol`, W],
  [`${TP}.proxyProtocol.version`, W],
  [`${TP}.tunnel`, W],
  [`${TP}.tunnel.protocol`, W],
  [`${TP}.tunnel.targetHost`, W],
  [`${TP}.tunnel.targetPort`, W],
  [`${TP}.retryBudget`, S, "replaces maxRetries, as in Envoy"],
  [`${TP}.retryBudget.percent`, S, "default 20"],
  [`${TP}.retryBudget.minRetryConcurrency`, S, "default 3"],
  [`${TP}.retryBudget.budgetInterval`, W, "only requests active now count"],
  ["spec.subsets", S],
  ["spec.subsets[].name", S],
  ["spec.subsets[].labels", S],
  ["spec.subsets[].trafficPolicy", S, "same fields as spec.trafficPolicy"],
  ["spec.exportTo", W],
  ...WORKLOAD_SELECTOR,
];

const PROTOCOLS_SUPPORTED = ["GRPC", "HTTP2"];
export const PROTOCOLS = ["GRPC", "HTTP2", "GRPC-WEB", "HTTP", "HTTPS", "TCP", "TLS", "MONGO", "MYSQL", "REDIS", "UDP"];

const SERVICE_ENTRY: readonly RowSpec[] = [
  ...METADATA,
  ["spec.hosts", S],
  ["spec.addresses", W],
  ["spec.ports", S],
  ["spec.ports[].number", S],
  ["spec.ports[].name", S],
  ["spec.ports[].protocol", S, "sluice proxies HTTP/2; unset means GRPC"],
  ...PROTOCOLS.map((p): RowSpec => [`spec.ports[].protocol=${p}`, PROTOCOLS_SUPPORTED.includes(p) ? S : W]),
  ["spec.ports[].targetPort", S],
  ["spec.location", W],
  ["spec.resolution", S],
  ["spec.resolution=STATIC", S],
  ["spec.resolution=DNS", S],
  ["spec.resolution=DNS_ROUND_ROBIN", W, "treated as DNS"],
  ["spec.resolution=NONE", W, "Istio's default when unset; treated as STATIC with endpoints, else DNS on the hosts"],
  ["spec.endpoints", S],
  ["spec.endpoints[].address", S],
  ["spec.endpoints[].ports", S],
  ["spec.endpoints[].weight", S],
  ["spec.endpoints[].labels", S],
  ["spec.endpoints[].network", W],
  ["spec.endpoints[].locality", W],
  [
    "spec.endpoints[].serviceAccount",
    S,
    'ISTIO_MUTUAL\'s identity: spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT, namespace from metadata (default "default")',
  ],
  ["spec.exportTo", W],
  ...WORKLOAD_SELECTOR,
  ["spec.subjectAltNames", S, "what the server certificate must carry when the DestinationRule's tls names nothing, as in Istio"],
];

const MATCH = "spec.http[].match[]";
const VIRTUAL_SERVICE: readonly RowSpec[] = [
  ...METADATA,
  ["spec.hosts", S],
  ["spec.gateways", W],
  ["spec.http", S],
  ["spec.http[].name", S, "a label only"],
  ["spec.http[].match", S],
  [`${MATCH}.name`, S, "a label only"],
  [`${MATCH}.uri`, S],
  [`${MATCH}.uri.exact`, S],
  [`${MATCH}.uri.prefix`, S],
  [`${MATCH}.uri.regex`, S],
  [`${MATCH}.headers`, S],
  [`${MATCH}.headers.*.exact`, S],
  [`${MATCH}.headers.*.prefix`, S],
  [`${MATCH}.headers.*.regex`, S],
  ...[
    "scheme",
    "method",
    "authority",
    "port",
    "sourceLabels",
    "gateways",
    "queryParams",
    "ignoreUriCase",
    "withoutHeaders",
    "sourceNamespace",
    "statPrefix",
  ].map((f): RowSpec => [`${MATCH}.${f}`, W, "the condition is ignored: the match is wider"]),
  ["spec.http[].route", S],
  ["spec.http[].route[].destination", S],
  ["spec.http[].route[].destination.host", S],
  ["spec.http[].route[].destination.subset", S],
  ["spec.http[].route[].destination.port", S],
  ["spec.http[].route[].destination.port.number", S],
  ["spec.http[].route[].weight", S, "relative; a single destination gets all traffic"],
  ["spec.http[].route[].headers", W],
  ["spec.http[].timeout", S],
  ["spec.http[].retries", S, "unset: Istio's default, 2 retries on connect-failure,refused-stream,unavailable,cancelled"],
  ["spec.http[].retries.attempts", S, "retries after the first try; 0 = none"],
  ["spec.http[].retries.perTryTimeout", S, "until the response starts, as in Envoy"],
  ["spec.http[].retries.retryOn", S, "gRPC names, connect-failure, refused-stream, reset, reset-before-request, 5xx, gateway-error, HTTP codes"],
  ["spec.http[].retries.retryRemoteLocalities", W, "sluice has no localities"],
  ["spec.http[].retries.retryIgnorePreviousHosts", S, "default true"],
  ["spec.http[].retries.backoff", S, "base of a jittered exponential backoff, default 25ms"],
  ...["redirect", "directResponse", "delegate", "rewrite", "fault", "mirror", "mirrors", "mirrorPercentage", "mirrorPercent", "corsPolicy", "headers"].map(
    (f): RowSpec => [`spec.http[].${f}`, W],
  ),
  ["spec.tcp", W],
  ["spec.tls", W],
  ["spec.exportTo", W],
];

const PROXY: readonly RowSpec[] = [
  ...METADATA,
  ["spec.listen", S],
  ["spec.tls", S, "default: plaintext (h2c); TLS with ALPN h2 only"],
  ["spec.tls.serverCertificate", S, "with privateKey: one certificate chain (PEM); relative paths are read from the config file's directory"],
  ["spec.tls.privateKey", S, "PEM, unencrypted, must match serverCertificate"],
  ["spec.tls.tlsCertificates", S, "several certificates instead, chosen by the client's SNI; the first is the default"],
  ["spec.tls.tlsCertificates[].serverCertificate", S],
  ["spec.tls.tlsCertificates[].privateKey", S],
  ["spec.tls.caCertificates", S, "default: none; set, clients must present a certificate it issued (mutual TLS)"],
  ["spec.tls.minProtocolVersion", S, "TLSV1_2 (default) or TLSV1_3"],
  ["spec.workloadCertificates", S, "default /etc/certs: cert-chain.pem, key.pem, root-cert.pem for ISTIO_MUTUAL"],
  ["spec.trustDomain", S, "default cluster.local: of the SPIFFE identities ISTIO_MUTUAL checks"],
  [
    "spec.admin",
    S,
    "host:port, a port on 127.0.0.1, or none; default 127.0.0.1:15000 (a warning if taken); /, /metrics, /clusters, /config_dump, /healthz, /ready",
  ],
  ["spec.mode", S],
  ["spec.transport", S],
  ["spec.defaultHost", S],
  ["spec.downstream", S],
  ["spec.downstream.keepalive", S],
  ["spec.downstream.keepalive.time", S, "default: no pings"],
  ["spec.downstream.keepalive.timeout", S, "default 20s"],
  ["spec.downstream.keepalive.minPingInterval", S, "default 5m"],
  ["spec.downstream.keepalive.permitWithoutCalls", S, "default false: without RPCs, one ping per 2h"],
  ["spec.downstream.maxConnectionAge", S, "+-10% jitter; default none"],
  ["spec.downstream.maxConnectionAgeGrace", S, "default none: in-flight RPCs may take as long as they need"],
  ["spec.downstream.maxConnectionIdle", S, "default 1h, as Envoy; 0s: none"],
  ["spec.downstream.maxConcurrentStreams", S, "default 1000"],
  ["spec.downstream.maxConnections", S, "default 10000"],
  ["spec.downstream.maxPrematureCancelsPerSecond", S, "default 1000, over all connections"],
  ["spec.upstream", S],
  ["spec.upstream.keepalive", S],
  ["spec.upstream.keepalive.time", S, "default: no pings"],
  ["spec.upstream.keepalive.timeout", S, "default 20s"],
  ["spec.leastRequest", S],
  ["spec.leastRequest.choiceCount", S],
  ["spec.retryBufferLimit", S, "bytes of request kept for retries; default 65536"],
  ["spec.retryBufferBudget", S, "bytes of request kept for retries per cluster; default 16777216"],
  ["spec.outlierDetection", S],
  ["spec.outlierDetection.latency", S, "sluice's latency outlier rule, off unless set; for clusters whose DestinationRule has outlierDetection"],
  ["spec.outlierDetection.latency.factor", S, "default 3, > 1"],
  ["spec.outlierDetection.latency.minRequests", S, "default 20"],
  ["spec.healthCheck", S, "grpc.health.v1 Check, or Watch where the backend has it; default: no health checks"],
  ["spec.healthCheck.interval", S, "default 5s"],
  ["spec.healthCheck.timeout", S, "default 1s"],
  ["spec.healthCheck.unhealthyThreshold", S, "default 2; connection failures and timeouts only: an answer other than SERVING counts at once"],
  ["spec.healthCheck.healthyThreshold", S, "default 1; an endpoint's first check counts at once"],
  ["spec.healthCheck.serviceName", S, "default empty: the server as a whole"],
  ["spec.healthCheck.hosts", S, "ServiceEntry hosts to check; default every host"],
  ["spec.drainTimeout", S, "default 5s: on SIGTERM, RPCs in flight get this long to finish"],
  ["spec.accessLog", S, "default false: one JSON line per RPC on stdout"],
  ["spec.imbalanceWarning", S, "needs the admin server"],
  ["spec.imbalanceWarning.threshold", S, "default 1.5 (> 1): busiest endpoint's request rate over the mean"],
  ["spec.imbalanceWarning.window", S, "default 30s: how long the imbalance lasts before one warning"],
];

export const SUPPORT_TABLE: readonly SupportRow[] = [
  ...rows("DestinationRule", DESTINATION_RULE),
  ...rows("ServiceEntry", SERVICE_ENTRY),
  ...rows("VirtualService", VIRTUAL_SERVICE),
  ...rows("Proxy", PROXY),
];

const INDEX = new Map(SUPPORT_TABLE.map((r) => [rowKey(r.kind, r.path, r.value), r]));

function rowKey(kind: string, path: string, value?: string): string {
  return value === undefined ? `${kind} ${path}` : `${kind} ${path}=${value}`;
}

export function supportOf(kind: ResourceKind, path: string, value?: string): SupportRow | undefined {
  return INDEX.get(rowKey(kind, path, value));
}
