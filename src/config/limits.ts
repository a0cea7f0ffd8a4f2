// Istio's numeric limits and defaults (DESIGN.md's table), in one place for the parsers,
// the docs and the tests.
import type { ConnectionPoolSettings, LoadBalancerSettings } from "./types.js";

/** Istio's limit fields are int32; 0 means "unset" (proto3), which Envoy treats as unlimited. */
export const INT32_MAX = 2_147_483_647;

export const DEFAULT_LOAD_BALANCER: LoadBalancerSettings = { kind: "simple", policy: "LEAST_REQUEST" };

/** Envoy's default minimum ring size for ring hash. */
export const DEFAULT_MINIMUM_RING_SIZE = 1024;
/** Envoy's upper bound on ring size (maximum_ring_size default 8M). */
export const MAX_RING_SIZE = 8_388_608;
/** Envoy's default maglev table size (a prime). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
/** Envoy's largest maglev table size. */
export const MAX_MAGLEV_TABLE_SIZE = 5_000_011;

export const DEFAULT_CONNECTION_POOL: ConnectionPoolSettings = {
  tcp: {
    maxConnections: Infinity,
    connectTimeoutMs: 10_000,
    maxConnectionDurationMs: null,
    idleTimeoutMs: 3_600_000,
  },
  http: {
    http1MaxPendingRequests: Infinity,
    http2MaxRequests: Infinity,
    maxRequestsPerConnection: 0,
    maxRetries: Infinity,
    idleTimeoutMs: 3_600_000,
    maxConcurrentStreams: Infinity,
  },
};

export const DEFAULT_OUTLIER_DETECTION = {
  consecutive5xxErrors: 5,
  consecutiveGatewayErrors: 0,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 10,
  minHealthPercent: 0,
  splitExternalLocalOriginErrors: false,
  consecutiveLocalOriginFailures: 5,
} as const;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** `0` (proto3 unset) -> unlimited. */
export function limitOrUnlimited(n: number | undefined): number {
  return n === undefined || n === 0 ? Infinity : n;
}
