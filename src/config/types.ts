// The validated, fully defaulted configuration model. Everything downstream of
// `loadConfig()` may assume these objects are valid and immutable: validation happens
// once, in src/config/, and returns every problem at once instead.

/** Infinity stands for Istio's "unlimited" (2^32-1 / 2^31-1) limits. */
export type Limit = number;

export type ProxyMode = "request" | "connection";

/** Which HTTP/2 implementation carries the traffic: the transport defines the kinds. */
export type { TransportKind } from "../transport/types.js";
import type { TransportKind } from "../transport/types.js";

export type SimpleLb = "LEAST_REQUEST" | "ROUND_ROBIN" | "RANDOM" | "PASSTHROUGH";

export type HashKeySource =
  | { readonly kind: "header"; readonly name: string }
  | { readonly kind: "cookie"; readonly name: string; readonly path: string; readonly ttlMs: number }
  | { readonly kind: "sourceIp" }
  | { readonly kind: "queryParameter"; readonly name: string };

export type HashAlgorithm = { readonly kind: "ringHash"; readonly minimumRingSize: number } | { readonly kind: "maglev"; readonly tableSize: number };

export type LoadBalancerSettings =
  | {
      readonly kind: "simple";
      /** LEAST_CONN and UNSPECIFIED are normalized to LEAST_REQUEST, as in Istio. */
      readonly policy: SimpleLb;
    }
  | { readonly kind: "consistentHash"; readonly key: HashKeySource; readonly algorithm: HashAlgorithm };

export interface TcpSettings {
  readonly maxConnections: Limit;
  readonly connectTimeoutMs: number;
  /** null = no limit on a connection's lifetime. */
  readonly maxConnectionDurationMs: number | null;
  readonly idleTimeoutMs: number;
}

export interface HttpSettings {
  readonly http1MaxPendingRequests: Limit;
  readonly http2MaxRequests: Limit;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly maxRetries: Limit;
  readonly idleTimeoutMs: number;
  readonly maxConcurrentStreams: Limit;
}

export interface ConnectionPoolSettings {
  readonly tcp: TcpSettings;
  readonly http: HttpSettings;
}

export interface OutlierDetectionSettings {
  /** 0 = off. */
  readonly consecutive5xxErrors: number;
  /** 0 = off (Istio's default). */
  readonly consecutiveGatewayErrors: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
  readonly minHealthPercent: number;
  readonly splitExternalLocalOriginErrors: boolean;
  readonly consecutiveLocalOriginFailures: number;
}

/** Envoy's retry budget: concurrent retries at most percent% of active requests, and at least minRetryConcurrency. */
export interface RetryBudget {
  readonly percent: number;
  readonly minRetryConcurrency: number;
}

/**
 * sluice's latency outlier rule (beyond Envoy), from the Proxy resource: at each outlier
 * detection interval, an endpoint whose p99 attempt latency exceeds `factor` x the median
 * of the other endpoints' p99s is ejected. Applies to clusters with outlierDetection.
 */
export interface LatencyOutlierSettings {
  /** > 1. */
  readonly factor: number;
  /** Attempts an endpoint needs in the interval to be judged, or to count for the median. */
  readonly minRequests: number;
}

export interface TrafficPolicy {
  readonly loadBalancer: LoadBalancerSettings;
  readonly connectionPool: ConnectionPoolSettings;
  /** null when the DestinationRule sets no outlierDetection (Envoy then ejects nothing). */
  readonly outlierDetection: OutlierDetectionSettings | null;
  /** null = connectionPool.http.maxRetries bounds concurrent retries instead. */
  readonly retryBudget: RetryBudget | null;
  /** TLS to the endpoints (the DestinationRule's tls, merged as Istio merges it); null = plaintext (unset or DISABLE). */
  readonly tls: UpstreamTlsSettings | null;
}

/**
 * Istio's ClientTLSSettings as sluice honours them. File paths are as written (resolved
 * against the config file's directory); the files are read when the cluster is built.
 */
export interface UpstreamTlsSettings {
  readonly mode: "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL";
  /** CA bundle (PEM) the server certificate must chain to; null = the system roots (SIMPLE, MUTUAL) or the workload root (ISTIO_MUTUAL). */
  readonly caCertificates: string | null;
  /** MUTUAL: the client certificate chain and its key (PEM); ISTIO_MUTUAL: null (the workload certificate is used). */
  readonly clientCertificate: string | null;
  readonly privateKey: string | null;
  /** The server certificate must carry one of these (DNS or URI SAN); empty = the usual host name check against `sni` (SIMPLE, MUTUAL) or the endpoint's SPIFFE identity (ISTIO_MUTUAL). */
  readonly subjectAltNames: readonly string[];
  /** SNI sent; null = the destination's host (ISTIO_MUTUAL: the cluster's name, as Istio sends outbound_.PORT_.SUBSET_.HOST). */
  readonly sni: string | null;
  /** No verification of the server at all (warned about). */
  readonly insecureSkipVerify: boolean;
  /** CRL (PEM): server certificates it lists are refused. */
  readonly caCrl: string | null;
}

/** Istio's workload certificate files (ISTIO_MUTUAL), from the Proxy resource. */
export interface WorkloadCertificates {
  /** Directory of cert-chain.pem, key.pem, root-cert.pem; default /etc/certs. */
  readonly directory: string;
  /** Trust domain of SPIFFE identities spiffe://TRUST_DOMAIN/ns/NS/sa/SA; default cluster.local. */
  readonly trustDomain: string;
}

/** TLS on the listener (clients to sluice), from the Proxy resource's spec.tls or the --tls-* flags. */
export interface DownstreamTlsSettings {
  /**
   * Certificate chains and keys (PEM paths). With several, the one whose SAN (or CN) matches
   * the client's SNI is used, else the first (Envoy's rule).
   */
  readonly certificates: readonly { readonly certificateChain: string; readonly privateKey: string }[];
  /** CA bundle (PEM) client certificates must chain to; set = mutual TLS (a client without a certificate is refused). null = no client certificates. */
  readonly clientCa: string | null;
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
}

export interface Endpoint {
  /** IP address or DNS name as written (DNS names are resolved by discovery/). */
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  /** The ServiceEntry endpoint's serviceAccount (ISTIO_MUTUAL's SPIFFE identity), with the ServiceEntry's namespace; absent when not set. */
  readonly identity?: { readonly namespace: string; readonly serviceAccount: string };
}

export interface ServicePort {
  readonly number: number;
  readonly name: string;
  readonly protocol: string;
  /** Port on the endpoints; defaults to `number`. */
  readonly targetPort: number;
}

/** One upstream destination: a host, one of its ports, optionally a subset. */
export interface Cluster {
  /** `host|port|subset`: stable identity, used in logs and metrics. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly subset: string | null;
  readonly resolution: "STATIC" | "DNS";
  /** Already filtered by the subset's labels; ports already resolved for this port. */
  readonly endpoints: readonly Endpoint[];
  /** The DR's policy merged with the port-level and subset policies, fully defaulted. */
  readonly policy: TrafficPolicy;
}

export interface HeaderMatch {
  readonly name: string;
  readonly kind: "exact" | "prefix" | "regex";
  readonly value: string;
}

export interface RouteMatch {
  /** Matches `:path` (gRPC: `/package.Service/Method`). */
  readonly uri: { readonly kind: "exact" | "prefix" | "regex"; readonly value: string } | null;
  readonly headers: readonly HeaderMatch[];
}

/** Envoy retry_on conditions sluice acts on (VirtualService retries.retryOn). */
export type RetryCondition =
  | "cancelled"
  | "deadline-exceeded"
  | "internal"
  | "resource-exhausted"
  | "unavailable"
  | "connect-failure"
  | "refused-stream"
  | "reset"
  | "reset-before-request"
  | "5xx"
  | "gateway-error"
  | "retriable-status-codes";

/** A route's retry policy (VirtualService http[].retries, or Istio's default). */
export interface RetryPolicy {
  /** Retries after the first attempt; 0 = none. */
  readonly attempts: number;
  /** null = attempts are bounded only by the route timeout / grpc-timeout. */
  readonly perTryTimeoutMs: number | null;
  readonly retryOn: ReadonlySet<RetryCondition>;
  /** HTTP :status codes retried (retryOn numbers). */
  readonly retriableStatusCodes: ReadonlySet<number>;
  /** Envoy's previous_hosts predicate: a retry goes to an endpoint not tried yet when there is one. */
  readonly ignorePreviousHosts: boolean;
  /** Envoy's jittered exponential backoff between retries: base interval (max 10x). */
  readonly backoffBaseMs: number;
}

export interface WeightedCluster {
  readonly cluster: string; // Cluster.name
  readonly weight: number;
}

export interface HttpRoute {
  /** Empty = match everything. A request matches when any one of these matches. */
  readonly matches: readonly RouteMatch[];
  readonly destinations: readonly WeightedCluster[];
  /** null = no route timeout. */
  readonly timeoutMs: number | null;
  readonly retry: RetryPolicy;
}

/** What `:authority` (port stripped, lower-cased) routes to. */
export interface VirtualHost {
  /** Names this virtual host answers to: short names and FQDNs. */
  readonly domains: readonly string[];
  readonly routes: readonly HttpRoute[];
}

/** The keepalive pings we send: one every timeMs, each answered within timeoutMs or the connection is dead. */
export interface PingSettings {
  /** null = do not send pings. */
  readonly timeMs: number | null;
  readonly timeoutMs: number;
}

export interface KeepaliveSettings extends PingSettings {
  /** Pings from the peer more often than this get GOAWAY ENHANCE_YOUR_CALM. */
  readonly minPingIntervalMs: number;
  readonly permitWithoutCalls: boolean;
}

export interface DownstreamSettings {
  readonly keepalive: KeepaliveSettings;
  /** null = no limit. */
  readonly maxConnectionAgeMs: number | null;
  readonly maxConnectionAgeGraceMs: number | null;
  readonly maxConnectionIdleMs: number | null;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients: streams one connection may hold open (more are refused). */
  readonly maxConcurrentStreams: number;
  /** Client connections open at once; one more is closed as it arrives. */
  readonly maxConnections: number;
  /** Upstream streams clients may cancel within a second of opening, per second over the whole process; a connection past it is closed. */
  readonly maxPrematureCancelsPerSecond: number;
}

/** Connections from the proxy to backends (what Istio's DestinationRule has no field for). */
export interface UpstreamSettings {
  readonly keepalive: PingSettings;
}

/**
 * Active gRPC health checks (grpc.health.v1.Health), Envoy's HealthCheck semantics; see
 * src/resilience/health-checker.ts for how results move an endpoint in and out of balancing.
 */
export interface HealthCheckSettings {
  /** Between the end of one check and the start of the next (Watch: how often a held status counts again). */
  readonly intervalMs: number;
  /** For an answer (Watch: for the first message); past it the check is a failure. */
  readonly timeoutMs: number;
  /** Consecutive connection failures or timeouts before a healthy endpoint is taken out. */
  readonly unhealthyThreshold: number;
  /** Consecutive SERVING answers before an unhealthy endpoint is taken back. */
  readonly healthyThreshold: number;
  /** HealthCheckRequest.service; "" asks about the server as a whole. */
  readonly serviceName: string;
  /** ServiceEntry hosts (as the ServiceEntry spells them) whose clusters are checked; null = every host. */
  readonly hosts: readonly string[] | null;
}

export interface AdminAddress {
  readonly host: string;
  readonly port: number;
  /** Set in the config or on the command line (false: the default, 127.0.0.1:15000). */
  readonly configured: boolean;
}

export interface ListenerSettings {
  readonly listen: { readonly host: string; readonly port: number };
  /** null = plaintext (h2c, prior knowledge). */
  readonly tls: DownstreamTlsSettings | null;
  /** Where ISTIO_MUTUAL clusters find the workload certificate. */
  readonly workloadCertificates: WorkloadCertificates;
  /** null = no admin server. */
  readonly admin: AdminAddress | null;
  readonly mode: ProxyMode;
  readonly transport: TransportKind;
  /** Host used when no virtual host matches; null = UNIMPLEMENTED "no route". */
  readonly defaultHost: string | null;
  readonly downstream: DownstreamSettings;
  readonly upstream: UpstreamSettings;
  /** Envoy's least_request choice_count (Istio has no field for it). */
  readonly leastRequestChoiceCount: number;
  /** Request bytes kept for a retry; an RPC whose request outgrows it is no longer retried. */
  readonly retryBufferLimit: number;
  /**
   * Request bytes kept for retries over all the RPCs of one cluster (each cluster has its
   * own); an RPC whose next bytes would pass it is no longer kept, nor retried.
   */
  readonly retryBufferBudget: number;
  /** null = off (the default). */
  readonly latencyOutlier: LatencyOutlierSettings | null;
  /** null = no active health checks (the default, as in Istio). */
  readonly healthCheck: HealthCheckSettings | null;
  /** On SIGTERM: how long RPCs in flight may take to finish before their connections are closed. */
  readonly drainTimeoutMs: number;
  /** One JSON line per RPC on stdout (Envoy's access log fields); false by default. */
  readonly accessLog: boolean;
  /** When a destination's spread is warned about (the admin server watches it). */
  readonly imbalanceWarning: ImbalanceWarningSettings;
}

/**
 * A destination is imbalanced when its busiest endpoint's request rate (over the last 10 s)
 * is more than `threshold` x the mean over its endpoints; one warning when that lasts `windowMs`.
 */
export interface ImbalanceWarningSettings {
  /** max / mean of the endpoints' request rates, > 1. */
  readonly threshold: number;
  readonly windowMs: number;
}

export interface Warning {
  readonly file: string;
  readonly line: number;
  readonly path: string;
  readonly message: string;
}

export type Problem = Warning;

export interface ProxyConfig {
  readonly listener: ListenerSettings;
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly virtualHosts: readonly VirtualHost[];
  readonly warnings: readonly Warning[];
}

export type LoadResult =
  { readonly ok: true; readonly config: ProxyConfig } | { readonly ok: false; readonly problems: readonly Problem[]; readonly warnings: readonly Warning[] };
