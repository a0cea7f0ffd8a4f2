// Runtime state of one cluster: its endpoints (with live load counters), the current
// picker, one connection pool per endpoint, and the active-request circuit breaker.
import { EventEmitter } from "node:events";
import type { LbEndpoint, Picker, PickRequest, PickResult, PolicyFactory } from "../balancer/types.js";
import type { Cluster, PingSettings } from "../config/types.js";
import { systemClock, type Clock } from "../core/clock.js";
import { systemRandom, type Random } from "../core/random.js";
import { tracer } from "../core/trace.js";
import type { EndpointSource, ResolvedEndpoint } from "../discovery/types.js";
import type { ClientTransport } from "../transport/types.js";
import { EndpointPool, PoolState, type PendingBudget, type PoolSettings } from "./endpoint-pool.js";

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
  /** Requests waiting for an upstream connection, over all endpoints (http1MaxPendingRequests). */
  readonly pending: PendingBudget;
  /** "endpoint-state" (endpoint key, PoolState, why) on every change of an endpoint's state. */
  readonly events = new EventEmitter();

  constructor(
    readonly config: Cluster,
    private readonly policy: PolicyFactory,
    private readonly source: EndpointSource,
    private readonly transport: ClientTransport,
    deps: { readonly clock?: Clock; readonly random?: Random; readonly keepalive?: PingSettings } = {},
  ) {
    const { tcp, http } = config.policy.connectionPool;
    this.pending = { limit: http.http1MaxPendingRequests, count: 0, overflows: 0 };
    this.poolSettings = {
      cluster: config.name,
      connectTimeoutMs: tcp.connectTimeoutMs,
      maxRequestsPerConnection: http.maxRequestsPerConnection,
      maxConcurrentStreams: http.maxConcurrentStreams,
      maxConnections: tcp.maxConnections,
      idleTimeoutMs: Math.min(tcp.idleTimeoutMs, http.idleTimeoutMs),
      maxConnectionDurationMs: tcp.maxConnectionDurationMs,
      pending: this.pending,
      keepalive: deps.keepalive ?? { timeMs: null, timeoutMs: 20_000 },
      clock: deps.clock ?? systemClock,
      random: deps.random ?? systemRandom,
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

  /**
   * The policy over the endpoints whose connections are not failing (TRANSIENT_FAILURE, as
   * gRPC's balancers leave such subchannels out), or over all of them when every one is.
   */
  private rebuildPicker(): void {
    const working = this.endpoints.filter((e) => this.pools.get(e.key)?.state !== PoolState.TRANSIENT_FAILURE);
    this.picker = this.policy(working.length > 0 ? working : this.endpoints);
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
      const key = endpoint.key;
      const observer = {
        stateChanged: (from: PoolState, to: PoolState, why: string): void => {
          if (from === PoolState.TRANSIENT_FAILURE || to === PoolState.TRANSIENT_FAILURE) this.rebuildPicker();
          this.events.emit("endpoint-state", key, to, why);
        },
      };
      pool = new EndpointPool(endpoint.address, endpoint.port, { ...this.poolSettings, observer }, this.transport);
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
    this.rebuildPicker();
    trace("endpoints updated", { cluster: this.name, endpoints: next.map((e) => e.key) });
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}
