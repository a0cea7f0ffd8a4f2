// The validated, fully defaulted configuration model. Everything downstream of
// `loadConfig()` may assume these objects are valid and immutable: validation happens
// once, in src/config/, and returns every problem at once instead.

/** Infinity stands for Istio's "unlimited" (2^32-1 / 2^31-1) limits. */
export type Limit = number;

export type ProxyMode = "request" | "connection";

/** Which HTTP/2 implementation carries the traffic: sluice's own frame-level one, or node:http2. */
export type TransportKind = "h2" | "node";

export type SimpleLb = "LEAST_REQUEST" | "ROUND_ROBIN" | "RANDOM" | "PASSTHROUGH";

export type HashKeySource =
  | { readonly kind: "header"; readonly name: string }
  | { readonly kind: "cookie"; readonly name: string; readonly path: string; readonly ttlMs: number }
  | { readonly kind: "sourceIp" }
  | { readonly kind: "queryParameter"; readonly name: string };

export type HashAlgorithm =
  | { readonly kind: "ringHash"; readonly minimumRingSize: number }
  | { readonly kind: "maglev"; readonly tableSize: number };

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

export interface TrafficPolicy {
  readonly loadBalancer: LoadBalancerSettings;
  readonly connectionPool: ConnectionPoolSettings;
  /** null when the DestinationRule sets no outlierDetection (Envoy then ejects nothing). */
  readonly outlierDetection: OutlierDetectionSettings | null;
}

export interface Endpoint {
  /** IP address or DNS name as written (DNS names are resolved by discovery/). */
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
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
}

/** Connections from the proxy to backends (what Istio's DestinationRule has no field for). */
export interface UpstreamSettings {
  readonly keepalive: PingSettings;
}

export interface ListenerSettings {
  readonly listen: { readonly host: string; readonly port: number };
  /** null = no admin server. */
  readonly admin: { readonly host: string; readonly port: number } | null;
  readonly mode: ProxyMode;
  readonly transport: TransportKind;
  /** Host used when no virtual host matches; null = UNIMPLEMENTED "no route". */
  readonly defaultHost: string | null;
  readonly downstream: DownstreamSettings;
  readonly upstream: UpstreamSettings;
  /** Envoy's least_request choice_count (Istio has no field for it). */
  readonly leastRequestChoiceCount: number;
  /** On SIGTERM: how long RPCs in flight may take to finish before their connections are closed. */
  readonly drainTimeoutMs: number;
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
  | { readonly ok: true; readonly config: ProxyConfig }
  | { readonly ok: false; readonly problems: readonly Problem[]; readonly warnings: readonly Warning[] };
