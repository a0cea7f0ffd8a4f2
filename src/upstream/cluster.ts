// Runtime state of one cluster: its endpoints (with live load counters), the current
// picker, one connection pool per endpoint, and the active-request circuit breaker.
import { EventEmitter } from "node:events";
import { isDeepStrictEqual } from "node:util";
import type { LbEndpoint, Picker, PickRequest, PickResult, PolicyFactory } from "../balancer/types.js";
import { DEFAULT_WORKLOAD_CERTIFICATES } from "../config/listener.js";
import type { Cluster, PingSettings, WorkloadCertificates } from "../config/types.js";
import { systemClock, type Clock } from "../core/clock.js";
import { systemRandom, type Random } from "../core/random.js";
import { tracer } from "../core/trace.js";
import type { EndpointSource, ResolvedEndpoint } from "../discovery/types.js";
import type { ClientTransport } from "../transport/types.js";
import { ClusterAdmission, type Admission, type ClusterStats } from "./admission.js";
import type { AttemptOutcome, OutcomeObserver } from "../balancer/outcome.js";
import type { PinMove } from "../balancer/connection-pins.js";
import { InternalError } from "../core/errors.js";
import { upstreamTls, type UpstreamTlsFor } from "./upstream-tls.js";
import type { UpstreamTlsContext } from "../transport/tls/client-tls.js";
import { EndpointPool, PoolState, type PendingBudget, type PoolSettings } from "./endpoint-pool.js";

const trace = tracer("cluster");

/**
 * Why an endpoint may be kept out of balancing: ejected by outlier detection, or failing
 * its active health checks. Each is set and cleared by its own owner.
 */
export type Exclusion = "ejected" | "unhealthy";

/** An endpoint's exclusions; an endpoint without any is healthy. */
interface Health {
  ejected: boolean;
  unhealthy: boolean;
}

export class ClusterRuntime {
  /** The circuit breaker and retry limit, and the request counts behind them (written there only). */
  private readonly admission: ClusterAdmission;
  private endpoints: LbEndpoint[] = [];
  /** Keys of the endpoints in the cluster now. */
  private current = new Set<string>();
  private picker: Picker;
  /** The endpoints the current picker chooses among, and their keys. */
  private pickable: readonly LbEndpoint[] = [];
  private pickableKeys: ReadonlySet<string> = new Set();
  private readonly pools = new Map<string, EndpointPool>();
  private poolSettings: PoolSettings;
  /** Each endpoint's TLS (the DestinationRule's tls); undefined for plaintext. Rebuilt when a reload changes it. */
  private tlsFor: UpstreamTlsFor;
  /** Where ISTIO_MUTUAL finds the workload certificate. */
  private readonly workload: WorkloadCertificates;
  /** The DNS name each resolved endpoint came from (its TLS identity may be configured by name). */
  private hostnames = new Map<string, string>();
  /** Requests waiting for an upstream connection, over all endpoints (http1MaxPendingRequests). */
  readonly pending: PendingBudget;
  /**
   * "endpoint-state" (endpoint key, PoolState, why) on every change of an endpoint's state;
   * "endpoint-health" (endpoint key, Exclusion, excluded: boolean, why) when an exclusion
   * is set or cleared; "endpoints" (added: LbEndpoint[], removed: string[] keys) when the
   * endpoint set changes, before the new picker is built: exclusions a listener sets for the
   * added endpoints then hold from their very first pick (health checks start them unhealthy).
   */
  readonly events = new EventEmitter();
  /** The outcome channel: told of every attempt's end (outlier detection, metrics). Replaced, never mutated. */
  private observers: readonly OutcomeObserver[] = [];
  /** A policy that learns from outcomes (peak EWMA) listens on the channel too, until a reload replaces it. */
  private unobservePolicy: (() => void) | undefined;
  /** Exclusions by endpoint key; endpoints without an entry are healthy. */
  private readonly health = new Map<string, Health>();
  /** True while too few endpoints are healthy (minHealthPercent): balancing ignores health. */
  panic = false;
  /** Set by retire(): pools made from now on retire once their request is done. */
  private retired = false;
  /** While "endpoints" listeners run, setExcluded leaves the picker to setEndpoints. */
  private updatingEndpoints = false;

  constructor(
    /** Replaced by reconfigure() on a config reload. */
    public config: Cluster,
    private policy: PolicyFactory,
    private source: EndpointSource,
    /** How connections are opened; null for a cluster that only balances (the simulator), which has no pools. */
    private readonly transport: ClientTransport | null,
    deps: {
      readonly clock?: Clock;
      readonly random?: Random;
      readonly keepalive?: PingSettings;
      readonly workloadCertificates?: WorkloadCertificates;
    } = {},
  ) {
    this.workload = deps.workloadCertificates ?? DEFAULT_WORKLOAD_CERTIFICATES;
    // Only a cluster that opens connections reads certificate files.
    this.tlsFor = transport === null ? () => undefined : upstreamTls(config, this.workload);
    this.pending = { limit: config.policy.connectionPool.http.http1MaxPendingRequests, count: 0, overflows: 0 };
    this.admission = new ClusterAdmission(this);
    this.poolSettings = {
      ...poolLimits(config),
      pending: this.pending,
      keepalive: deps.keepalive ?? { timeMs: null, timeoutMs: 20_000 },
      clock: deps.clock ?? systemClock,
      random: deps.random ?? systemRandom,
    };
    this.picker = policy([]);
    this.unobservePolicy = policy.outcomes === undefined ? undefined : this.observe(policy.outcomes);
  }

  /**
   * Subscribes to the outcome channel: every attempt's end on this cluster's endpoints.
   * Outlier detection and metrics attach this way from outside; returns the unsubscribe.
   */
  observe(observer: OutcomeObserver): () => void {
    this.observers = [...this.observers, observer];
    return () => {
      this.observers = this.observers.filter((o) => o !== observer);
    };
  }

  /** Whether anyone listens to outcomes (the data path times attempts only then). */
  get observed(): boolean {
    return this.observers.length > 0;
  }

  /** Reports an attempt's end to every observer. */
  attemptEnded(outcome: AttemptOutcome): void {
    for (const o of this.observers) o.attemptEnded(outcome);
  }

  /** The injected clock (attempt durations, the data path's timers). */
  get clock(): Clock {
    return this.poolSettings.clock;
  }

  get name(): string {
    return this.config.name;
  }

  /** PASSTHROUGH picks endpoints from :authority, outside the endpoint set. */
  private get passthrough(): boolean {
    const lb = this.config.policy.loadBalancer;
    return lb.kind === "simple" && lb.policy === "PASSTHROUGH";
  }

  /** The injected random source (retry backoff jitter). */
  get random(): Random {
    return this.poolSettings.random;
  }

  /**
   * Admits one more RPC (the http2MaxRequests circuit breaker): its Admission holds every
   * count the RPC takes until its end(); null when the cluster is full (counted as an overflow).
   */
  admit(): Admission | null {
    return this.admission.admit();
  }

  /** The request counts: in flight, refused, retrying, retries. */
  get stats(): ClusterStats {
    return this.admission.stats;
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

  /**
   * A config reload kept this cluster (same name): the new policy balances from now on, new
   * connections and new RPCs get the new pool settings, and `source` (when the endpoints
   * changed) replaces the old source: its first set retires removed endpoints at once.
   * Open connections and RPCs in flight carry on.
   */
  reconfigure(config: Cluster, policy: PolicyFactory, source: EndpointSource | undefined, keepalive: PingSettings): void {
    const tlsChanged = this.transport !== null && !isDeepStrictEqual(config.policy.tls, this.config.policy.tls);
    this.config = config;
    if (tlsChanged) {
      // New TLS settings take new connections: the pools go (their streams finish) and come back with it.
      this.tlsFor = upstreamTls(config, this.workload);
      for (const pool of this.pools.values()) pool.retire();
      this.pools.clear();
    }
    if (policy !== this.policy) {
      this.unobservePolicy?.();
      this.unobservePolicy = policy.outcomes === undefined ? undefined : this.observe(policy.outcomes);
    }
    this.policy = policy;
    this.pending.limit = config.policy.connectionPool.http.http1MaxPendingRequests;
    this.poolSettings = { ...this.poolSettings, ...poolLimits(config), keepalive };
    for (const pool of this.pools.values()) pool.updateSettings(this.poolSettings);
    if (source === undefined) {
      this.rebuildPicker();
      return;
    }
    // A DNS source keeps the last good answers of the names both know, so a failed first
    // lookup does not drop endpoints the old source had.
    source.adopt?.(this.source);
    this.source.stop();
    this.source = source;
    source.start((resolved) => this.setEndpoints(resolved));
  }

  /**
   * The cluster left the config: no route leads here any more, but the RPCs already routed
   * here (in flight, or waiting for a connection) are still served on the last endpoint set;
   * each pool retires once it has none left.
   */
  retire(): void {
    this.retired = true;
    this.source.stop();
    for (const pool of this.pools.values()) pool.retireWhenIdle();
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
   * The policy over the healthy endpoints (not ejected, not failing health checks), or over
   * all of them in panic (fewer healthy than minHealthPercent, as Envoy's panic threshold).
   * Of those, endpoints whose connections are failing (TRANSIENT_FAILURE, as gRPC's
   * balancers leave such subchannels out) are left out too, unless every one is.
   */
  private rebuildPicker(): void {
    const all = this.endpoints;
    let candidates = all;
    if (this.health.size > 0) {
      const healthy = all.filter((e) => this.isHealthy(e.key));
      const minPercent = this.config.policy.outlierDetection?.minHealthPercent ?? 0;
      const panic = all.length > 0 && healthy.length < all.length && (100 * healthy.length) / all.length < minPercent;
      if (panic !== this.panic) {
        this.panic = panic;
        trace(panic ? "panic: balancing over all endpoints" : "panic over", { cluster: this.name, healthy: healthy.length, endpoints: all.length });
      }
      candidates = panic ? all : healthy;
    } else {
      this.panic = false;
    }
    const working = candidates.filter((e) => this.pools.get(e.key)?.state !== PoolState.TRANSIENT_FAILURE);
    this.pickable = working.length > 0 ? working : candidates;
    this.pickableKeys = new Set(this.pickable.map((e) => e.key));
    this.picker = this.policy(this.pickable);
  }

  /**
   * Whether the picker could choose this endpoint now: in the cluster, healthy (or in panic),
   * and not failing to connect (unless every candidate is). Connection mode moves a pin off an
   * endpoint that is not, as a request-mode pick passes it over.
   */
  isPickable(endpoint: LbEndpoint): boolean {
    return this.pickableKeys.has(endpoint.key);
  }

  /** Connection mode: a downstream connection's pin moved off one of the cluster's endpoints (counted in stats.pinMoves). */
  pinMoved(why: PinMove): void {
    this.admission.pinMoved(why);
  }

  /**
   * For a retry whose picks kept landing on endpoints it tried already (a hash policy always
   * does; least-request favours an endpoint that fails fast): the least loaded endpoint the
   * picker could choose that is not among them, if there is one.
   */
  untried(tried: readonly LbEndpoint[]): LbEndpoint | undefined {
    let best: LbEndpoint | undefined;
    for (const e of this.pickable) {
      if (tried.some((t) => t.key === e.key)) continue;
      if (best === undefined || e.load.activeRequests < best.load.activeRequests) best = e;
    }
    return best;
  }

  /** Whether the endpoint is neither ejected nor failing health checks. */
  isHealthy(key: string): boolean {
    const h = this.health.get(key);
    return h === undefined || (!h.ejected && !h.unhealthy);
  }

  /** Whether the endpoint carries this exclusion. */
  isExcluded(key: string, exclusion: Exclusion): boolean {
    return this.health.get(key)?.[exclusion] ?? false;
  }

  /** Sets or clears one exclusion of an endpoint still in the cluster; the picker follows at once. */
  setExcluded(key: string, exclusion: Exclusion, excluded: boolean, why: string): void {
    if (!this.current.has(key)) return;
    let h = this.health.get(key);
    if ((h?.[exclusion] ?? false) === excluded) return;
    if (h === undefined) {
      h = { ejected: false, unhealthy: false };
      this.health.set(key, h);
    }
    h[exclusion] = excluded;
    if (!h.ejected && !h.unhealthy) this.health.delete(key);
    trace(excluded ? "endpoint excluded" : "endpoint readmitted", { cluster: this.name, endpoint: key, exclusion, why });
    if (!this.updatingEndpoints) this.rebuildPicker();
    this.events.emit("endpoint-health", key, exclusion, excluded, why);
  }

  endpointList(): readonly LbEndpoint[] {
    return this.endpoints;
  }

  /** Whether this endpoint is still in the cluster (connection mode re-pins when not). */
  isCurrent(endpoint: LbEndpoint): boolean {
    // By key: an endpoint whose weight or labels changed is a new object, but the same endpoint.
    return this.current.has(endpoint.key);
  }

  /** The endpoint's pool if it has one (the admin server looks without creating one). */
  existingPool(key: string): EndpointPool | undefined {
    return this.pools.get(key);
  }

  /** The TLS an endpoint's connections use (health checks use it too); undefined for plaintext. */
  tlsContext(endpoint: LbEndpoint): UpstreamTlsContext | undefined {
    const hostname = this.hostnames.get(endpoint.key);
    return this.tlsFor(hostname === undefined ? endpoint : { ...endpoint, hostname });
  }

  pool(endpoint: LbEndpoint): EndpointPool {
    let pool = this.pools.get(endpoint.key);
    if (pool === undefined) {
      const transport = this.transport;
      if (transport === null) throw new InternalError(`cluster ${this.name} balances only: it opens no connections`);
      const key = endpoint.key;
      if (!this.passthrough && !this.current.has(key)) {
        // The endpoint has left the cluster (a pick made before an update): a retired pool,
        // kept nowhere, whose acquire answers EndpointGone, so the request is picked again.
        const gone = new EndpointPool(endpoint.address, endpoint.port, this.poolSettings, transport);
        gone.retire();
        return gone;
      }
      const observer = {
        stateChanged: (from: PoolState, to: PoolState, why: string): void => {
          if (from === PoolState.TRANSIENT_FAILURE || to === PoolState.TRANSIENT_FAILURE) this.rebuildPicker();
          this.events.emit("endpoint-state", key, to, why);
        },
      };
      pool = new EndpointPool(endpoint.address, endpoint.port, { ...this.poolSettings, observer }, transport, this.tlsContext(endpoint));
      this.pools.set(endpoint.key, pool);
      if (this.retired) pool.retireWhenIdle(false);
    }
    return pool;
  }

  private setEndpoints(resolved: readonly ResolvedEndpoint[]): void {
    const previous = new Map(this.endpoints.map((e) => [e.key, e]));
    const next: LbEndpoint[] = [];
    const added: LbEndpoint[] = [];
    const hostnames = new Map<string, string>();
    for (const r of resolved) {
      const key = r.address.includes(":") ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;
      if (r.hostname !== undefined) hostnames.set(key, r.hostname);
      const old = previous.get(key);
      // Keep the old handle (and its live counters) when its weight and labels are unchanged.
      if (old !== undefined && old.weight === Math.max(1, r.weight) && sameLabels(old.labels, r.labels)) {
        next.push(old);
        previous.delete(key);
        continue;
      }
      const endpoint: LbEndpoint = {
        key,
        address: r.address,
        port: r.port,
        weight: Math.max(1, r.weight),
        labels: r.labels,
        load: old?.load ?? { activeRequests: 0, activeConnections: 0 },
      };
      next.push(endpoint);
      // A changed weight or labels keeps the endpoint (and its health): only new keys are added.
      if (old === undefined) added.push(endpoint);
      previous.delete(key);
    }
    for (const gone of previous.keys()) this.health.delete(gone);
    this.endpoints = next;
    this.hostnames = hostnames;
    this.current = new Set(next.map((e) => e.key));
    const removed = [...previous.keys()];
    if (added.length > 0 || removed.length > 0) {
      this.updatingEndpoints = true;
      try {
        this.events.emit("endpoints", added, removed);
      } finally {
        this.updatingEndpoints = false;
      }
    }
    this.rebuildPicker();
    // Only now retire the removed endpoints' pools: their waiting requests are called back
    // at once and replay on the new picker, which no longer offers these endpoints.
    for (const gone of removed) {
      const pool = this.pools.get(gone);
      // Let in-flight streams finish, then close.
      if (pool !== undefined) {
        this.pools.delete(gone);
        pool.retire();
      }
    }
    trace("endpoints updated", { cluster: this.name, endpoints: next.map((e) => e.key) });
  }
}

/** The pool settings a cluster's connectionPool gives. */
function poolLimits(config: Cluster): Omit<PoolSettings, "pending" | "keepalive" | "clock" | "random" | "observer"> {
  const { tcp, http } = config.policy.connectionPool;
  return {
    cluster: config.name,
    connectTimeoutMs: tcp.connectTimeoutMs,
    maxRequestsPerConnection: http.maxRequestsPerConnection,
    maxConcurrentStreams: http.maxConcurrentStreams,
    maxConnections: tcp.maxConnections,
    idleTimeoutMs: Math.min(tcp.idleTimeoutMs, http.idleTimeoutMs),
    maxConnectionDurationMs: tcp.maxConnectionDurationMs,
  };
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}
