// The config a proxy on a control plane (--xds) runs before the first snapshot: every RPC is
// routed to a cluster with no endpoints, so it gets UNAVAILABLE "no healthy upstream", which
// gRPC clients retry or wait out (waitForReady).
import type { Cluster, VirtualHost } from "../config/types.js";
import { DEFAULT_CONNECTION_POOL, DEFAULT_LOAD_BALANCER } from "../config/limits.js";
import { NO_RETRY } from "../xds-client/from-xds-routes.js";

/** The only host routed before the first snapshot; it is the default host, so every request takes it. */
export const PENDING_HOST = "xds-pending";

export const PENDING_CLUSTER: Cluster = {
  name: `${PENDING_HOST}|0|`,
  host: PENDING_HOST,
  port: 0,
  subset: null,
  resolution: "STATIC",
  endpoints: [],
  policy: { loadBalancer: DEFAULT_LOAD_BALANCER, connectionPool: DEFAULT_CONNECTION_POOL, outlierDetection: null, retryBudget: null, tls: null },
};

export const PENDING_HOSTS: readonly VirtualHost[] = [
  { domains: [PENDING_HOST], routes: [{ matches: [], destinations: [{ cluster: PENDING_CLUSTER.name, weight: 100 }], timeoutMs: null, retry: NO_RETRY }] },
];
