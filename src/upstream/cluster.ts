// Runtime state of one cluster: its endpoints (with live load counters), the current
// picker, one connection pool per endpoint, and the active-request circuit breaker.
import type { LbEndpoint, Picker, PickRequest, PickResult, PolicyFactory } from "../balancer/types.js";
import type { Cluster } from "../config/types.js";
import { tracer } from "../core/trace.js";
import type { EndpointSource, ResolvedEndpoint } from "../discovery/types.js";
import type { ClientTransport } from "../transport/types.js";
import { EndpointPool, type PoolSettings } from "./endpoint-pool.js";

const trace = tracer("cluster");

export class ClusterRuntime {
  /** RPCs in flight to this cluster: the http2MaxRequests circuit breaker counts these. */
  active = 0;
  /** RPCs refused by the circuit breaker. */
  overflows = 0;
  private endpoints: LbEndpoint[] = [];
  private current = new Set<LbEndpoint>();
  private picker: Picker;
  private readonly pools = new Map<string, EndpointPool>();
  private readonly poolSettings: PoolSettings;

  constructor(
    readonly config: Cluster,
    private readonly policy: PolicyFactory,
    private readonly source: EndpointSource,
    private readonly transport: ClientTransport,
  ) {
    const { tcp, http } = config.policy.connectionPool;
    this.poolSettings = {
      connectTimeoutMs: tcp.connectTimeoutMs,
      maxRequestsPerConnection: http.maxRequestsPerConnection,
      maxConcurrentStreams: http.maxConcurrentStreams,
      maxConnections: tcp.maxConnections,
    };
    this.picker = policy([]);
  }

  get name(): string {
    return this.config.name;
  }

  get http2MaxRequests(): number {
    return this.config.policy.connectionPool.http.http2MaxRequests;
  }

  /** Starts discovery; resolves once the first endpoint set arrived (the cluster is warm). */
  start(): Promise<void> {
    return new Promise((warm) => {
      this.source.start((resolved) => {
        this.setEndpoints(resolved);
        warm();
      });
    });
  }

  stop(): void {
    this.source.stop();
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }

  pick(request: PickRequest): PickResult {
    return this.picker.pick(request);
  }

  endpointList(): readonly LbEndpoint[] {
    return this.endpoints;
  }

  /** Whether this endpoint is still in the cluster (connection mode re-pins when not). */
  isCurrent(endpoint: LbEndpoint): boolean {
    return this.current.has(endpoint);
  }

  pool(endpoint: LbEndpoint): EndpointPool {
    let pool = this.pools.get(endpoint.key);
    if (pool === undefined) {
      pool = new EndpointPool(endpoint.address, endpoint.port, this.poolSettings, this.transport);
      this.pools.set(endpoint.key, pool);
    }
    return pool;
  }

  private setEndpoints(resolved: readonly ResolvedEndpoint[]): void {
    const previous = new Map(this.endpoints.map((e) => [e.key, e]));
    const next: LbEndpoint[] = [];
    for (const r of resolved) {
      const key = r.address.includes(":") ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;
      const old = previous.get(key);
      // Keep the old handle (and its live counters) when its weight and labels are unchanged.
      if (old !== undefined && old.weight === Math.max(1, r.weight) && sameLabels(old.labels, r.labels)) {
        next.push(old);
        previous.delete(key);
        continue;
      }
      next.push({
        key,
        address: r.address,
        port: r.port,
        weight: Math.max(1, r.weight),
        labels: r.labels,
        load: old?.load ?? { activeRequests: 0, activeConnections: 0 },
      });
      previous.delete(key);
    }
    for (const gone of previous.keys()) {
      const pool = this.pools.get(gone);
      // Removed endpoints: let in-flight streams finish, then close.
      if (pool !== undefined) {
        pool.retire();
        this.pools.delete(gone);
      }
    }
    this.endpoints = next;
    this.current = new Set(next);
    this.picker = this.policy(next);
    trace("endpoints updated", { cluster: this.name, endpoints: next.map((e) => e.key) });
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}
