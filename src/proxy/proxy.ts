// The proxy: listener -> HTTP/2 server -> per-stream forwarding to cluster runtimes.
// Built from a validated ProxyConfig (src/config/); everything here may assume it valid.
import type { LbEndpoint, PolicyDeps } from "../balancer/types.js";
import type { Cluster, ProxyConfig } from "../config/types.js";
import { systemClock, type Clock } from "../core/clock.js";
import { systemRandom, type Random } from "../core/random.js";
import { Status } from "../core/status.js";
import { logger, tracer } from "../core/trace.js";
import type { EndpointSource } from "../discovery/types.js";
import { createClientTransport, createServerTransport } from "../transport/create.js";
import type { ClientTransport, ServerConnection, ServerHandlers, ServerStream, ServerTransport } from "../transport/types.js";
import { ClusterRuntime } from "../upstream/cluster.js";
import { DownstreamLifetime, type LifetimeEvent } from "./downstream-lifetime.js";
import { Forwarder, type ForwardHooks, type RpcOutcome } from "./forwarder.js";
import { isGrpcPath, parseGrpcTimeout, trailersOnly } from "./grpc-wire.js";
import { Listener } from "./listener.js";
import { Router } from "./router.js";
import { createEndpointSource } from "../discovery/create.js";
import { createPolicy, registerBuiltins } from "../balancer/registry.js";

const trace = tracer("proxy");

/** Per-stream receive window; with backpressure it bounds memory per stream. */
const STREAM_WINDOW = 1 << 20;

export interface ProxyDeps {
  readonly random?: Random;
  readonly clock?: Clock;
  readonly transport?: ClientTransport;
  /** Called when each RPC ends (tests, stats). */
  readonly onRpcEnd?: (outcome: RpcOutcome) => void;
  /** Endpoint sources by cluster (tests inject; default from the cluster's resolution). */
  readonly endpointSource?: (cluster: Cluster) => EndpointSource;
  /** Called on downstream connection lifetime events: pings, idle, age, keepalive (tests, stats). */
  readonly onLifetimeEvent?: (event: LifetimeEvent) => void;
  /** Slowloris guards, shortened by tests: the listener's preface wait, the h2 frame-read timeout. */
  readonly downstreamTimeouts?: { readonly prefaceMs?: number; readonly frameReadMs?: number };
}

/** State kept per downstream connection (connection mode only). */
interface DownstreamState {
  streams: number;
  /** The endpoint each cluster is pinned to for this connection. */
  readonly pins: Map<ClusterRuntime, LbEndpoint>;
  /**
   * Whether the pins count in their endpoints' activeConnections, which LEAST_CONN compares:
   * until the connection is sent GOAWAY. A draining connection takes no new RPCs, so it no
   * longer loads its endpoint; were it still counted, the client's replacement connection
   * would shun the pod it just left and a 1/1/1 spread would keep reshuffling.
   */
  counted: boolean;
}

export class Proxy {
  private readonly clusters = new Map<string, ClusterRuntime>();
  private readonly router: Router;
  private readonly server: ServerTransport;
  private readonly listener: Listener;
  private readonly downstream = new Map<number, DownstreamState>();
  private readonly hooks: ForwardHooks;
  /** Downstream idle, age and keepalive (gRFC A8, A9). */
  readonly lifetime: DownstreamLifetime;
  private address: { host: string; port: number } | undefined;
  /** Downstream connections accepted since start. */
  connectionsAccepted = 0;
  /** Envoy's downstream_cx_max_requests_reached: connections sent GOAWAY at maxRequestsPerConnection. */
  connectionsCycled = 0;

  constructor(
    readonly config: ProxyConfig,
    deps: ProxyDeps = {},
  ) {
    registerBuiltins();
    const random = deps.random ?? systemRandom;
    const clock = deps.clock ?? systemClock;
    const kind = config.listener.transport;
    const transport = deps.transport ?? createClientTransport(kind, { initialWindowSize: STREAM_WINDOW });
    const mode = config.listener.mode;
    const policyDeps: PolicyDeps = {
      random,
      loadMetric: mode === "connection" ? "activeConnections" : "activeRequests",
      choiceCount: config.listener.leastRequestChoiceCount,
    };
    for (const cluster of config.clusters.values()) {
      const source = deps.endpointSource?.(cluster) ?? createEndpointSource(cluster, clock);
      const runtime = new ClusterRuntime(cluster, createPolicy(cluster.policy.loadBalancer, policyDeps), source, transport, {
        clock,
        random,
        keepalive: config.listener.upstream.keepalive,
      });
      this.clusters.set(cluster.name, runtime);
    }
    this.router = new Router(config.virtualHosts, config.listener.defaultHost, random);
    this.hooks = { onEnd: deps.onRpcEnd };
    const onLifetimeEvent = deps.onLifetimeEvent;
    const lifetime = new DownstreamLifetime(config.listener.downstream, clock, random, (event) => {
      // GOAWAY (idle, max age) or a close on the way: the connection stops loading its endpoints.
      if (event.kind !== "ping" && event.kind !== "idle-start" && event.kind !== "closed") this.unpin(event.conn);
      onLifetimeEvent?.(event);
    });
    this.lifetime = lifetime;
    const handlers: ServerHandlers = {
      onConnection: (conn) => {
        this.connectionsAccepted++;
        lifetime.onConnection(conn);
      },
      onConnectionClose: (conn) => this.onConnectionClose(conn),
      onStream: (stream, conn) => this.onStream(stream, conn),
      onPing: (conn) => lifetime.onPing(conn),
    };
    if (lifetime.tracksStreams) handlers.onStreamClose = (conn) => lifetime.onStreamClose(conn);
    const timeouts = deps.downstreamTimeouts;
    this.server = createServerTransport(
      kind,
      { initialWindowSize: STREAM_WINDOW, maxConcurrentStreams: 0x7fffffff, ...(timeouts?.frameReadMs !== undefined && { frameReadTimeoutMs: timeouts.frameReadMs }) },
      handlers,
    );
    this.listener = new Listener((socket) => this.server.accept(socket), timeouts?.prefaceMs);
  }

  async start(): Promise<{ host: string; port: number }> {
    // Like Envoy's cluster warming: listen only once every cluster has its first endpoint set
    // (DNS sources always deliver their first round, resolved or not).
    await Promise.all([...this.clusters.values()].map((c) => c.start()));
    const { host, port } = this.config.listener.listen;
    this.address = await this.listener.listen(host, port);
    logger.info({ listen: this.address, mode: this.config.listener.mode, clusters: [...this.clusters.keys()] }, "sluice proxy listening");
    return this.address;
  }

  /** Stops accepting, drains every connection (GOAWAY), then closes what is left after graceMs. */
  async stop(graceMs = 5000): Promise<void> {
    const closed = this.listener.close();
    this.lifetime.stop();
    this.server.drainAll();
    const timer = setTimeout(() => {
      this.server.destroyAll();
      this.listener.destroyAll();
    }, graceMs);
    await closed;
    clearTimeout(timer);
    for (const c of this.clusters.values()) c.stop();
  }

  cluster(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
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
      ds.respond(trailersOnly(Status.UNIMPLEMENTED, `malformed :path ${JSON.stringify(path)}: gRPC wants /service/method`), true);
      return;
    }
    const route = this.router.route(authority, path, (name) => firstValue(h[name]));
    if (route.kind === "none") {
      ds.respond(trailersOnly(Status.UNIMPLEMENTED, route.message), true);
      return;
    }
    const cluster = this.clusters.get(route.cluster)!;
    const timeout = parseGrpcTimeout(h["grpc-timeout"]);
    if (Number.isNaN(timeout)) {
      ds.respond(trailersOnly(Status.INTERNAL, `malformed grpc-timeout ${String(h["grpc-timeout"])}`), true);
      return;
    }
    const deadline = minDefined(timeout, route.timeoutMs ?? undefined);
    const forwarder = new Forwarder(ds, cluster, conn.remoteAddress, this.hooks);
    if (this.config.listener.mode === "connection") {
      // Per-connection state only in connection mode, from the first stream on.
      let state = this.downstream.get(conn.id);
      if (state === undefined) {
        state = { streams: 0, pins: new Map(), counted: true };
        this.downstream.set(conn.id, state);
      }
      let pinned = state.pins.get(cluster);
      if (pinned !== undefined && !cluster.isCurrent(pinned)) {
        // The endpoint left the cluster: this connection is balanced again.
        if (state.counted) pinned.load.activeConnections--;
        state.pins.delete(cluster);
        pinned = undefined;
      }
      if (pinned === undefined) {
        const pick = cluster.pick(forwarder);
        if (pick.kind === "endpoint") {
          pinned = pick.endpoint;
          if (state.counted) pinned.load.activeConnections++;
          state.pins.set(cluster, pinned);
          trace("connection pinned", { conn: conn.id, cluster: cluster.name, endpoint: pinned.key, connections: pinned.load.activeConnections });
        }
      }
      forwarder.start(deadline, pinned);
      this.countStream(state, conn, cluster);
      return;
    }
    forwarder.start(deadline);
  }

  /** connection mode: after maxRequestsPerConnection streams, GOAWAY so the client rebalances. */
  private countStream(state: DownstreamState, conn: ServerConnection, cluster: ClusterRuntime): void {
    state.streams++;
    const limit = cluster.config.policy.connectionPool.http.maxRequestsPerConnection;
    if (limit > 0 && state.streams === limit) {
      this.connectionsCycled++;
      trace("downstream connection cycled", { conn: conn.id, streams: state.streams });
      // Before the GOAWAY goes out, so the client's reconnection is balanced without this one.
      this.unpin(conn.id);
      conn.drain();
    }
  }

  /** The connection's pins stop counting in their endpoints' load (it drains or closes). */
  private unpin(connId: number): void {
    const state = this.downstream.get(connId);
    if (state === undefined || !state.counted) return;
    state.counted = false;
    for (const endpoint of state.pins.values()) {
      endpoint.load.activeConnections--;
      trace("connection unpinned", { conn: connId, endpoint: endpoint.key, connections: endpoint.load.activeConnections });
    }
  }

  private onConnectionClose(conn: ServerConnection): void {
    this.lifetime.onConnectionClose(conn);
    this.unpin(conn.id);
    this.downstream.delete(conn.id);
  }
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
