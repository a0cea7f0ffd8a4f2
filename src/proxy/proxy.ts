// The proxy: listener -> HTTP/2 server -> per-stream forwarding to cluster runtimes.
// Built from a validated ProxyConfig (src/config/); everything here may assume it valid.
import type { PolicyDeps, PolicyFactory } from "../balancer/types.js";
import type { Cluster, ProxyConfig } from "../config/types.js";
import { systemClock, type Clock } from "../core/clock.js";
import { systemRandom, type Random } from "../core/random.js";
import { Status, type StatusCode } from "../core/status.js";
import { logger } from "../core/trace.js";
import type { EndpointSource } from "../discovery/types.js";
import { createClientTransport, createServerTransport } from "../transport/create.js";
import type { ClientTransport, ServerConnection, ServerHandlers, ServerStream, ServerTransport } from "../transport/types.js";
import type { OutcomeObserver } from "../balancer/outcome.js";
import { ClusterRuntime } from "../upstream/cluster.js";
import { ConnectionPins } from "../balancer/connection-pins.js";
import { DownstreamLifetime, type LifetimeEvent } from "./downstream-lifetime.js";
import { Forwarder, type ForwardHooks, type RpcDeadline } from "./forwarder.js";
import type { RpcOutcome } from "./rpc-outcome.js";
import { isGrpcPath, parseGrpcTimeout, trailersOnly } from "./grpc-wire.js";
import { Listener } from "./listener.js";
import { needsNewSource, planReload, type ReloadPlan } from "./reconfigure.js";
import { Router } from "./router.js";
import { createEndpointSource } from "../discovery/create.js";
import { createPolicy, registerBuiltins } from "../balancer/registry.js";
import type { HealthChecker } from "../resilience/health-checker.js";
import { ClusterGuards } from "../resilience/cluster-guards.js";
import type { OutlierDetector } from "../resilience/outlier-detector.js";
import { ResponseFlag } from "./response-flags.js";
import { PrematureCancels } from "./premature-cancels.js";
import type { PoolState } from "../upstream/endpoint-pool.js";
import { EndpointFailureLog } from "./endpoint-failure-log.js";
import { CertificateWatcher, readCertificates, type CertificateEvent } from "./listener-certificates.js";
import type { ServerTlsStats } from "../transport/tls/server-tls.js";

/** The cluster name the RPC-end hook gets for a request no route took (Istio's "unknown" destination). */
export const NO_ROUTE_CLUSTER = "unknown";

/** Per-stream receive window; with backpressure it bounds memory per stream. */
const STREAM_WINDOW = 1 << 20;

export interface ProxyDeps {
  readonly random?: Random;
  readonly clock?: Clock;
  readonly transport?: ClientTransport;
  /** Called when each RPC ends (tests, stats). */
  readonly onRpcEnd?: (outcome: RpcOutcome) => void;
  /** An observer of every attempt on each cluster's endpoints (per-endpoint stats), by cluster name. */
  readonly attemptObserver?: (cluster: string) => OutcomeObserver;
  /** Endpoint sources by cluster (tests inject; default from the cluster's resolution). */
  readonly endpointSource?: (cluster: Cluster) => EndpointSource;
  /** Called on downstream connection lifetime events: pings, idle, age, keepalive (tests, stats). */
  readonly onLifetimeEvent?: (event: LifetimeEvent) => void;
  /** Told when the listener's certificate files were reloaded, or could not be (the old ones then stay). */
  readonly onCertificates?: (event: CertificateEvent) => void;
  /** Slowloris guards, shortened by tests: the listener's preface wait, the h2 frame-read timeout. */
  readonly downstreamTimeouts?: { readonly prefaceMs?: number; readonly frameReadMs?: number };
}

interface ClusterDeps {
  readonly random: Random;
  readonly clock: Clock;
  readonly transport: ClientTransport;
  readonly endpointSource: ((cluster: Cluster) => EndpointSource) | undefined;
  readonly attemptObserver: ((cluster: string) => OutcomeObserver) | undefined;
}

export class Proxy {
  private readonly clusters = new Map<string, ClusterRuntime>();
  /** Outlier detection and health checks attached to each cluster, by cluster name. */
  private readonly guards = new Map<string, ClusterGuards>();
  private router: Router;
  private readonly server: ServerTransport;
  private readonly listener: Listener;
  /** Connection mode's pins and cycling. */
  private readonly pins = new ConnectionPins();
  /** Shared by the RPCs started under one config; a reload replaces it. */
  private hooks: ForwardHooks;
  /** Downstream idle, age and keepalive (gRFC A8, A9). */
  readonly lifetime: DownstreamLifetime;
  private address: { host: string; port: number } | undefined;
  /** Downstream connections accepted since start, and closed since start. */
  connectionsAccepted = 0;

  /** Envoy's downstream_cx_overflow: client connections closed as they arrived, downstream.maxConnections being open. */
  get connectionsOverflowed(): number {
    return this.listener.overflows;
  }
  connectionsClosed = 0;
  /** Client connections closed because their cancel overdrew the process's premature-cancel budget. */
  get connectionsClosedForCancels(): number {
    return this.hooks.prematureCancels.connectionsClosed;
  }
  /** Envoy's downstream_cx_max_requests_reached: connections sent GOAWAY at maxRequestsPerConnection. */
  get connectionsCycled(): number {
    return this.pins.cycled;
  }
  /** What clusters are built with; a reload builds its new clusters the same way. */
  private readonly clusterDeps: ClusterDeps;
  /** The reload in progress (reloads apply one at a time). */
  private reloading: Promise<unknown> = Promise.resolve();
  /** Listener certificate reloads that applied, and that failed (the old certificates stayed). */
  readonly certificateReloads = { ok: 0, failed: 0 };
  /** Endpoints that cannot be reached, logged once per reason. */
  private readonly failureLog = new EndpointFailureLog();
  /** The listener's certificate files, watched for rotation (TLS listeners only). */
  private certificates: CertificateWatcher | undefined;
  /** Set by stop(): connections still being accepted are drained at once. */
  private stopping = false;

  constructor(
    /** The running config; reconfigure() replaces it. */
    public config: ProxyConfig,
    deps: ProxyDeps = {},
  ) {
    registerBuiltins();
    const random = deps.random ?? systemRandom;
    const clock = deps.clock ?? systemClock;
    const kind = config.listener.transport;
    const transport = deps.transport ?? createClientTransport(kind, { initialWindowSize: STREAM_WINDOW });
    this.clusterDeps = { random, clock, transport, endpointSource: deps.endpointSource, attemptObserver: deps.attemptObserver };
    for (const cluster of config.clusters.values()) this.clusters.set(cluster.name, this.newCluster(cluster, config));
    this.router = new Router(config.virtualHosts, config.listener.defaultHost, random);
    const perSecond = config.listener.downstream.maxPrematureCancelsPerSecond;
    this.hooks = hooksOf(config, deps.onRpcEnd, new PrematureCancels(perSecond, clock));
    const onLifetimeEvent = deps.onLifetimeEvent;
    const lifetime = new DownstreamLifetime(config.listener.downstream, clock, random, (event) => {
      // GOAWAY (idle, max age) or a close on the way: the connection stops loading its endpoints.
      if (event.kind !== "ping" && event.kind !== "idle-start" && event.kind !== "closed") this.pins.unpin(event.conn);
      onLifetimeEvent?.(event);
    });
    this.lifetime = lifetime;
    const handlers: ServerHandlers = {
      onConnection: (conn) => {
        this.connectionsAccepted++;
        lifetime.onConnection(conn);
        // Accepted while stopping (its preface was still being read): GOAWAY once our SETTINGS are out.
        if (this.stopping) setImmediate(() => conn.drain());
      },
      onConnectionClose: (conn) => this.onConnectionClose(conn),
      onStream: (stream, conn) => this.onStream(stream, conn),
      onPing: (conn) => lifetime.onPing(conn),
    };
    if (lifetime.tracksStreams) handlers.onStreamClose = (conn) => lifetime.onStreamClose(conn);
    const timeouts = deps.downstreamTimeouts;
    this.server = createServerTransport(
      kind,
      {
        initialWindowSize: STREAM_WINDOW,
        maxConcurrentStreams: config.listener.downstream.maxConcurrentStreams,
        ...(timeouts?.frameReadMs !== undefined && { frameReadTimeoutMs: timeouts.frameReadMs }),
      },
      handlers,
    );
    const tls = config.listener.tls;
    const material = tls === null ? undefined : readCertificates(tls);
    this.listener = new Listener((socket) => this.server.accept(socket), timeouts?.prefaceMs, config.listener.downstream.maxConnections, material);
    if (tls !== null && material !== undefined && this.listener.tls !== undefined) {
      this.certificates = new CertificateWatcher(tls, material, this.listener.tls, (event) => {
        if (event.ok) {
          this.certificateReloads.ok++;
          logger.info({ files: event.files }, "listener certificates reloaded: new handshakes use them");
        } else {
          this.certificateReloads.failed++;
          logger.warn({ err: event.error }, event.error);
        }
        deps.onCertificates?.(event);
      });
    }
  }

  /** Envoy's listener ssl.* counters; undefined for a plaintext listener. */
  get tlsStats(): ServerTlsStats | undefined {
    return this.listener.tls?.stats;
  }

  /** `listenFd`: accept on this inherited listening socket instead of binding the configured address. */
  async start(listenFd?: number): Promise<{ host: string; port: number }> {
    // Like Envoy's cluster warming: listen only once every cluster has its first endpoint set
    // (DNS sources always deliver their first round, resolved or not).
    await this.attachHealthCheckers(this.clusters, this.config);
    await Promise.all([...this.clusters.values()].map((c) => this.startCluster(c)));
    // Envoy's warming waits for the first health check of every host, too (each bounded by the timeout).
    await Promise.all([...this.guards.values()].map((g) => g.warm()));
    const { host, port } = this.config.listener.listen;
    this.address = listenFd === undefined ? await this.listener.listen(host, port) : await this.listener.listenFd(listenFd);
    logger.info({ listen: this.address, mode: this.config.listener.mode, clusters: [...this.clusters.keys()] }, "sluice proxy listening");
    return this.address;
  }

  /** The listening socket's file descriptor, for handing it to a successor process (takeover). */
  listeningFd(): number | undefined {
    return this.listener.fd();
  }

  /**
   * Applies a new, valid config to new RPCs (see reconfigure.ts): new clusters start, and warm
   * as at start, before any route points at them; the router is replaced; kept clusters take
   * their new endpoints, policy and pool settings; removed clusters retire, their RPCs in
   * flight finishing. Connections stay open. Reloads apply one at a time, in call order.
   */
  reconfigure(next: ProxyConfig): Promise<ReloadPlan> {
    const run = this.reloading.then(() => this.applyReload(next));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async applyReload(next: ProxyConfig): Promise<ReloadPlan> {
    const plan = planReload(this.config, next);
    const config = plan.config;
    const started = new Map<string, ClusterRuntime>();
    for (const name of plan.added) started.set(name, this.newCluster(config.clusters.get(name)!, config));
    await this.attachHealthCheckers(started, config);
    await Promise.all([...started.values()].map((c) => this.startCluster(c)));
    // As at start: the new clusters' endpoints have their first health check before routes use them.
    await Promise.all([...started.keys()].flatMap((name) => this.guards.get(name)?.warm() ?? []));
    if (this.stopping) {
      // Stopped while the new clusters warmed: they never served, nothing else changes.
      for (const [name, c] of started) {
        this.stopGuards(name);
        c.stop();
      }
      return plan;
    }
    // Choice count and upstream keepalive reach every cluster's policy and pools.
    const everyCluster = plan.listenerChanged.includes("leastRequestChoiceCount") || plan.listenerChanged.includes("upstream");
    for (const [name, runtime] of this.clusters) {
      const cluster = config.clusters.get(name);
      const what = plan.changed.get(name) ?? [];
      if (cluster === undefined || (what.length === 0 && !everyCluster)) continue;
      const source = needsNewSource(what) ? this.sourceFor(cluster) : undefined;
      runtime.reconfigure(cluster, this.policyFor(cluster, config), source, config.listener.upstream.keepalive);
      if (what.includes("outlierDetection")) this.guards.get(name)?.outlierSettingsChanged();
    }
    for (const [name, runtime] of started) this.clusters.set(name, runtime);
    this.router = new Router(config.virtualHosts, config.listener.defaultHost, this.clusterDeps.random);
    for (const name of plan.removed) {
      this.stopGuards(name);
      this.clusters.get(name)?.retire();
      this.clusters.delete(name);
    }
    this.hooks = hooksOf(config, this.hooks.onEnd, this.prematureCancelsFor(config));
    this.config = config;
    return plan;
  }

  /** The running budget, or a new one when a reload changed its rate (the count of closed connections carries over). */
  private prematureCancelsFor(config: ProxyConfig): PrematureCancels {
    const old = this.hooks.prematureCancels;
    const perSecond = config.listener.downstream.maxPrematureCancelsPerSecond;
    if (perSecond === old.perSecond) return old;
    const next = new PrematureCancels(perSecond, this.clusterDeps.clock);
    next.connectionsClosed = old.connectionsClosed;
    return next;
  }

  private stopGuards(cluster: string): void {
    this.failureLog.forget(cluster);
    this.guards.get(cluster)?.stop();
    this.guards.delete(cluster);
  }

  /** Starts discovery and the cluster's outlier detection (resolves once the cluster is warm). */
  private startCluster(c: ClusterRuntime): Promise<void> {
    this.guards.get(c.name)?.start();
    return c.start();
  }

  private newCluster(cluster: Cluster, config: ProxyConfig): ClusterRuntime {
    const { clock, random, transport } = this.clusterDeps;
    const runtime = new ClusterRuntime(cluster, this.policyFor(cluster, config), this.sourceFor(cluster), transport, {
      clock,
      random,
      keepalive: config.listener.upstream.keepalive,
      workloadCertificates: config.listener.workloadCertificates,
    });
    this.guards.set(
      cluster.name,
      new ClusterGuards(runtime, { clock, latencyOutlier: config.listener.latencyOutlier, keepalive: config.listener.upstream.keepalive }),
    );
    runtime.events.on("endpoint-state", (key: string, to: PoolState, why: string) => this.failureLog.stateChanged(cluster.name, key, to, why));
    const observer = this.clusterDeps.attemptObserver?.(cluster.name);
    if (observer !== undefined) runtime.observe(observer);
    return runtime;
  }

  /**
   * Health checkers for the clusters whose host spec.healthCheck covers, made before the
   * clusters start, so their first endpoint sets arrive already checked. The module (and
   * grpc-js, which the checks speak) is loaded only when health checks are configured: it
   * costs the proxy ~15 MB of memory otherwise spent on nothing.
   */
  private async attachHealthCheckers(clusters: ReadonlyMap<string, ClusterRuntime>, config: ProxyConfig): Promise<void> {
    const hc = config.listener.healthCheck;
    if (hc === null) return;
    for (const [name, runtime] of clusters) {
      if (hc.hosts !== null && !hc.hosts.includes(runtime.config.host)) continue;
      await this.guards.get(name)?.checkHealth(hc);
    }
  }

  private sourceFor(cluster: Cluster): EndpointSource {
    return this.clusterDeps.endpointSource?.(cluster) ?? createEndpointSource(cluster, this.clusterDeps.clock);
  }

  private policyFor(cluster: Cluster, config: ProxyConfig): PolicyFactory {
    const policyDeps: PolicyDeps = {
      random: this.clusterDeps.random,
      loadMetric: config.listener.mode === "connection" ? "activeConnections" : "activeRequests",
      choiceCount: config.listener.leastRequestChoiceCount,
    };
    return createPolicy(cluster.policy.loadBalancer, policyDeps);
  }

  /**
   * Stops accepting, drains every connection (GOAWAY; RPCs in flight finish), then closes what
   * is left after graceMs (default: the config's drainTimeout).
   */
  async stop(graceMs = this.config.listener.drainTimeoutMs): Promise<void> {
    this.stopping = true;
    this.certificates?.close();
    const closed = this.listener.close();
    this.lifetime.stop();
    this.server.drainAll();
    const timer = setTimeout(() => {
      this.server.destroyAll();
      this.listener.destroyAll();
    }, graceMs);
    await closed;
    clearTimeout(timer);
    for (const g of this.guards.values()) g.stop();
    for (const c of this.clusters.values()) c.stop();
  }

  cluster(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  /** The running clusters (admin server, metrics). */
  clusterRuntimes(): IterableIterator<ClusterRuntime> {
    return this.clusters.values();
  }

  /** Where the proxy listens, once started. */
  get listenAddress(): { host: string; port: number } | undefined {
    return this.address;
  }

  /** True from stop() on: the proxy drains and takes no new connections. */
  get draining(): boolean {
    return this.stopping;
  }

  /** The cluster's active health checker, when spec.healthCheck covers its host. */
  healthChecker(name: string): HealthChecker | undefined {
    return this.guards.get(name)?.healthChecker ?? undefined;
  }

  /** The cluster's outlier detector, when its DestinationRule sets outlierDetection (its counters feed metrics). */
  outlierDetector(name: string): OutlierDetector | undefined {
    return this.guards.get(name)?.outlierDetector ?? undefined;
  }

  /**
   * A gRPC request the proxy answers before any cluster takes it (no route, malformed :path
   * or grpc-timeout): a trailers-only status, told to the RPC-end hook like any other RPC, so
   * metrics and the access log count it (Envoy counts its NR replies the same way).
   */
  private replyEarly(ds: ServerStream, cluster: string, code: StatusCode, message: string, authority: string, path: string, flag: ResponseFlag): void {
    ds.respond(trailersOnly(code, message), true);
    this.hooks.onEnd?.({
      cluster,
      endpoint: null,
      status: code,
      local: true,
      durationMs: 0,
      requestBytes: 0,
      responseBytes: 0,
      authority,
      path,
      retries: 0,
      flag,
    });
  }

  private onStream(ds: ServerStream, conn: ServerConnection): void {
    const h = ds.headers;
    const contentType = h["content-type"];
    if (h[":method"] !== "POST" || typeof contentType !== "string" || !contentType.startsWith("application/grpc")) {
      ds.respondPlain(415, `sluice proxies gRPC only: expected POST with content-type application/grpc, got ${String(h[":method"])} ${String(contentType)}\n`);
      return;
    }
    const authority = (h[":authority"] as string | undefined) ?? "";
    const path = (h[":path"] as string | undefined) ?? "/";
    if (!isGrpcPath(path)) {
      // What grpc-go answers a malformed method name, and Envoy a gRPC request with no route:
      // no backend has such a method, so none is bothered (nor blamed) with it.
      this.replyEarly(
        ds,
        NO_ROUTE_CLUSTER,
        Status.UNIMPLEMENTED,
        `malformed :path ${JSON.stringify(path)}: gRPC wants /service/method`,
        authority,
        path,
        ResponseFlag.NO_ROUTE,
      );
      return;
    }
    const route = this.router.route(authority, path, (name) => firstValue(h[name]));
    if (route.kind === "none") {
      this.replyEarly(ds, NO_ROUTE_CLUSTER, Status.UNIMPLEMENTED, route.message, authority, path, ResponseFlag.NO_ROUTE);
      return;
    }
    const cluster = this.clusters.get(route.cluster)!;
    const timeout = parseGrpcTimeout(h["grpc-timeout"]);
    if (Number.isNaN(timeout)) {
      this.replyEarly(
        ds,
        cluster.name,
        Status.INTERNAL,
        `malformed grpc-timeout ${String(h["grpc-timeout"])}`,
        authority,
        path,
        ResponseFlag.DOWNSTREAM_PROTOCOL_ERROR,
      );
      return;
    }
    const deadline = rpcDeadline(timeout, route.timeoutMs);
    const forwarder = new Forwarder(ds, cluster, conn, this.hooks, route.retry);
    if (this.config.listener.mode === "connection") {
      forwarder.start(deadline, this.pins.pinFor(conn.id, cluster, forwarder.request));
      if (this.pins.countStream(conn.id, cluster.config.policy.connectionPool.http.maxRequestsPerConnection)) conn.drain();
      return;
    }
    forwarder.start(deadline);
  }

  private onConnectionClose(conn: ServerConnection): void {
    this.connectionsClosed++;
    this.lifetime.onConnectionClose(conn);
    this.pins.closed(conn.id);
  }
}

/** What every RPC started under `config` shares: the RPC-end hook, the retry buffer's limits, the premature-cancel budget. */
function hooksOf(config: ProxyConfig, onEnd: ((outcome: RpcOutcome) => void) | undefined, prematureCancels: PrematureCancels): ForwardHooks {
  const { retryBufferLimit, retryBufferBudget } = config.listener;
  return { onEnd, retryBufferLimit, retryBufferBudget, prematureCancels };
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The sooner of the client's grpc-timeout and the route's timeout, and whose it is (a tie is the client's). */
function rpcDeadline(grpcTimeoutMs: number | undefined, routeTimeoutMs: number | null): RpcDeadline | undefined {
  if (grpcTimeoutMs === undefined) return routeTimeoutMs === null ? undefined : { ms: routeTimeoutMs, byClient: false };
  if (routeTimeoutMs !== null && routeTimeoutMs < grpcTimeoutMs) return { ms: routeTimeoutMs, byClient: false };
  return { ms: grpcTimeoutMs, byClient: true };
}
