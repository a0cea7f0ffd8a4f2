// DestinationRule trafficPolicy.connectionPool (istio ConnectionPoolSettings), fully
// defaulted: the whole connectionPool replaces the enclosing one when set (Istio's merge),
// so its own defaults can be applied here.
import { DEFAULT_CONNECTION_POOL, INT32_MAX, limitOrUnlimited } from "./limits.js";
import type { MapReader } from "./reader.js";
import type { ConnectionPoolSettings, HttpSettings, TcpSettings } from "./types.js";

const LIMIT = { min: 0, max: INT32_MAX };

export function parseConnectionPool(r: MapReader): ConnectionPoolSettings {
  const tcpReader = r.map("tcp");
  const httpReader = r.map("http");
  r.finish();
  return {
    tcp: tcpReader === undefined ? DEFAULT_CONNECTION_POOL.tcp : parseTcp(tcpReader),
    http: httpReader === undefined ? DEFAULT_CONNECTION_POOL.http : parseHttp(httpReader),
  };
}

function parseTcp(r: MapReader): TcpSettings {
  const d = DEFAULT_CONNECTION_POOL.tcp;
  const maxConnections = r.int("maxConnections", LIMIT);
  const connectTimeoutMs = r.duration("connectTimeout");
  const keepalive = r.map("tcpKeepalive");
  if (keepalive !== undefined) {
    keepalive.int("probes", LIMIT);
    keepalive.duration("time");
    keepalive.duration("interval");
    keepalive.finish();
  }
  const maxConnectionDurationMs = r.duration("maxConnectionDuration");
  const idleTimeoutMs = r.duration("idleTimeout");
  r.finish();
  return {
    maxConnections: limitOrUnlimited(maxConnections),
    connectTimeoutMs: connectTimeoutMs ?? d.connectTimeoutMs,
    maxConnectionDurationMs: maxConnectionDurationMs ?? d.maxConnectionDurationMs,
    idleTimeoutMs: idleTimeoutMs ?? d.idleTimeoutMs,
  };
}

function parseHttp(r: MapReader): HttpSettings {
  const d = DEFAULT_CONNECTION_POOL.http;
  const http1MaxPendingRequests = r.int("http1MaxPendingRequests", LIMIT);
  const http2MaxRequests = r.int("http2MaxRequests", LIMIT);
  const maxRequestsPerConnection = r.int("maxRequestsPerConnection", LIMIT);
  const maxRetries = r.int("maxRetries", LIMIT);
  const idleTimeoutMs = r.duration("idleTimeout");
  const upgrade = r.enumOf("h2UpgradePolicy", ["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"]);
  const useClientProtocol = r.bool("useClientProtocol");
  const maxConcurrentStreams = r.int("maxConcurrentStreams", LIMIT);
  r.finish();
  if (upgrade === "UPGRADE" && useClientProtocol === true) {
    r.error("useClientProtocol", "must not be true when h2UpgradePolicy is UPGRADE (Istio rejects the pair)");
  }
  return {
    http1MaxPendingRequests: limitOrUnlimited(http1MaxPendingRequests),
    http2MaxRequests: limitOrUnlimited(http2MaxRequests),
    maxRequestsPerConnection: maxRequestsPerConnection ?? d.maxRequestsPerConnection,
    maxRetries: limitOrUnlimited(maxRetries),
    idleTimeoutMs: idleTimeoutMs ?? d.idleTimeoutMs,
    maxConcurrentStreams: limitOrUnlimited(maxConcurrentStreams),
  };
}
