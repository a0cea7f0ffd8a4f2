// The balancing layers a simulation can put between clients and backends. Each runs sluice's
// own code on the virtual clock: a ClusterRuntime (the proxy's cluster: policy from
// src/balancer, health, panic, outlier detection) and, in connection mode, the proxy's
// ConnectionPins (pinning and maxRequestsPerConnection cycling). Only what happens on the
// wire is modelled: connections take connectMs to open, backends take their service time.
import { createPolicy, registerBuiltins } from "../balancer/registry.js";
import type { LbEndpoint, PickRequest, PolicyFactory } from "../balancer/types.js";
import type { Cluster, LoadBalancerSettings, ProxyConfig } from "../config/types.js";
import { Status } from "../core/status.js";
import type { EndpointSource, ResolvedEndpoint } from "../discovery/types.js";
import { ConnectionPins } from "../proxy/connection-pins.js";
import { AttemptEnd } from "../upstream/attempt.js";
import { ClusterRuntime } from "../upstream/cluster.js";
import type { ClientTransport } from "../transport/types.js";
import type { Random } from "../core/random.js";
import type { SimBackend } from "./backend.js";
import type { Recorder } from "./recorder.js";
import type { ClientPolicy, Layer, Scenario } from "./scenario.js";
import type { SimClock } from "./sim-clock.js";

/** One RPC of a simulated client. `finish` is called once, however it ends. */
export interface SimRpc {
  readonly channel: SimChannel;
  readonly startedAt: number;
  /** `backend`: its index, or -1 when the RPC never reached one; `failure`: why it failed, or null. */
  readonly finish: (backend: number, failure: string | null) => void;
}

/** A client's gRPC channel: in the connection layers, one connection at a time. */
export class SimChannel {
  /** The open connection's id, or null (none yet, or sent GOAWAY / closed). */
  conn: number | null = null;
  /** L4: the backend the connection is pinned to. */
  pinned: LbEndpoint | null = null;
  connecting = false;
  readonly waiting: SimRpc[] = [];
  /** Client layer: the channel's own view of the endpoints (its own load counters). */
  cluster: ClusterRuntime | null = null;
  source: SimSource | null = null;

  constructor(
    readonly id: number,
    /** What a hash policy on the source IP sees: the client's address. */
    readonly request: PickRequest,
  ) {}
}

export interface SimContext {
  readonly clock: SimClock;
  readonly random: Random;
  readonly recorder: Recorder;
  readonly scenario: Scenario;
  readonly config: ProxyConfig;
  /** The cluster whose traffic policy is simulated. */
  readonly cluster: Cluster;
  readonly backends: ReadonlyMap<string, SimBackend>;
}

export interface Balancing {
  readonly layer: Layer;
  /** What the summary names as the policy. */
  readonly policyName: string;
  /** The backends in the balancing set now (after an add or a removal). */
  setBackends(backends: readonly SimBackend[]): void;
  send(rpc: SimRpc): void;
  /** Connections pinned per backend index (0 where the layer has no pins). */
  connectionsPerBackend(count: number): number[];
  stop(): void;
}

/** An endpoint source the simulation drives. */
export class SimSource implements EndpointSource {
  private onUpdate: ((endpoints: readonly ResolvedEndpoint[]) => void) | null = null;
  private current: readonly ResolvedEndpoint[] = [];

  start(onUpdate: (endpoints: readonly ResolvedEndpoint[]) => void): void {
    this.onUpdate = onUpdate;
    onUpdate(this.current);
  }

  stop(): void {
    this.onUpdate = null;
  }

  set(backends: readonly SimBackend[]): void {
    this.current = backends.map((b) => ({ address: b.address, port: b.port, weight: 1, labels: { pod: b.name } }));
    this.onUpdate?.(this.current);
  }
}

/** The simulator opens no sockets: a cluster that tried would be a bug here. */
const NO_TRANSPORT: ClientTransport = {
  connect() {
    throw new Error("the simulator opens no connections");
  },
};

export function createBalancing(layer: Layer, ctx: SimContext): Balancing {
  registerBuiltins();
  switch (layer) {
    case "proxy-request":
      return new ProxyRequestLayer(ctx);
    case "proxy-connection":
      return new ProxyConnectionLayer(ctx);
    case "l4":
      return new L4Layer(ctx);
    case "client":
      return new ClientLayer(ctx);
  }
}

function clusterRuntime(ctx: SimContext, cluster: Cluster, policy: PolicyFactory, source: SimSource): ClusterRuntime {
  const runtime = new ClusterRuntime(cluster, policy, source, NO_TRANSPORT, {
    clock: ctx.clock,
    random: ctx.random,
    latencyOutlier: ctx.config.listener.latencyOutlier,
  });
  void runtime.start();
  return runtime;
}

function policyOf(ctx: SimContext, settings: LoadBalancerSettings, loadMetric: "activeRequests" | "activeConnections"): PolicyFactory {
  return createPolicy(settings, { random: ctx.random, loadMetric, choiceCount: ctx.config.listener.leastRequestChoiceCount, clock: ctx.clock });
}

function describePolicy(settings: LoadBalancerSettings): string {
  if (settings.kind === "simple") return settings.policy;
  return settings.algorithm.kind === "ringHash" ? "RING_HASH" : "MAGLEV";
}

/**
 * Sends an RPC the way the proxy's forwarder does: the http2MaxRequests circuit breaker, the
 * pick (unless pinned), the load counters while it runs, every outlier observer told of its end.
 */
function forward(ctx: SimContext, cluster: ClusterRuntime, pinned: LbEndpoint | undefined, rpc: SimRpc): void {
  if (cluster.active >= cluster.http2MaxRequests) {
    cluster.overflows++;
    rpc.finish(-1, "overflow (http2MaxRequests)");
    return;
  }
  let endpoint = pinned;
  if (endpoint === undefined) {
    const pick = cluster.pick(rpc.channel.request);
    if (pick.kind !== "endpoint") {
      rpc.finish(-1, "no healthy upstream");
      return;
    }
    endpoint = pick.endpoint;
  }
  sendTo(ctx, cluster, endpoint, rpc);
}

/** The RPC on `endpoint`: counted while it runs; the cluster's observers (outlier detection) hear how it ended. */
function sendTo(ctx: SimContext, cluster: ClusterRuntime, endpoint: LbEndpoint, rpc: SimRpc): void {
  const backend = ctx.backends.get(endpoint.key)!;
  const clock = ctx.clock;
  const t0 = clock.now();
  cluster.active++;
  endpoint.load.activeRequests++;
  ctx.recorder.sent(backend.index, t0);
  backend.serve((status) => {
    cluster.active--;
    endpoint.load.activeRequests--;
    const ms = clock.now() - t0;
    for (const o of cluster.attemptObservers) o.attemptEnded(endpoint, AttemptEnd.RESPONSE, status, ms);
    rpc.finish(backend.index, status === Status.OK ? null : "UNAVAILABLE from the backend");
  });
}

/** Connection counts per backend index from the endpoints' activeConnections. */
function pinnedCounts(ctx: SimContext, endpoints: readonly LbEndpoint[], count: number): number[] {
  const out = new Array<number>(count).fill(0);
  for (const e of endpoints) {
    const b = ctx.backends.get(e.key);
    if (b !== undefined) out[b.index] = e.load.activeConnections;
  }
  return out;
}

/** sluice proxy, request mode: every RPC balanced on its own. */
class ProxyRequestLayer implements Balancing {
  readonly layer = "proxy-request" as const;
  readonly policyName: string;
  private readonly source = new SimSource();
  private readonly cluster: ClusterRuntime;

  constructor(private readonly ctx: SimContext) {
    const lb = ctx.cluster.policy.loadBalancer;
    this.policyName = describePolicy(lb);
    this.cluster = clusterRuntime(ctx, ctx.cluster, policyOf(ctx, lb, "activeRequests"), this.source);
  }

  setBackends(backends: readonly SimBackend[]): void {
    this.source.set(backends);
  }

  send(rpc: SimRpc): void {
    forward(this.ctx, this.cluster, undefined, rpc);
  }

  connectionsPerBackend(count: number): number[] {
    return new Array<number>(count).fill(0);
  }

  stop(): void {
    this.cluster.stop();
  }
}

/**
 * Opens a channel's connection (connectMs), then hands it the RPCs that waited; `open` says
 * whether there was anything to connect to (if not, they fail as a refused connection would).
 */
function connectThen(ctx: SimContext, channel: SimChannel, rpc: SimRpc, open: (channel: SimChannel) => boolean, send: (rpc: SimRpc) => void): void {
  channel.waiting.push(rpc);
  if (channel.connecting) return;
  channel.connecting = true;
  ctx.clock.setTimer(ctx.scenario.connectMs, () => {
    channel.connecting = false;
    const opened = open(channel);
    if (opened && ctx.clock.now() >= ctx.scenario.measureFromMs) ctx.recorder.connectionsOpened++;
    const waiting = channel.waiting.splice(0);
    for (const r of waiting) {
      if (opened) send(r);
      else r.finish(-1, "connection refused (no backend)");
    }
  });
}

/**
 * sluice proxy, connection mode: a client connection is pinned to one endpoint (LEAST_CONN
 * compares pinned connections); after maxRequestsPerConnection RPCs it gets GOAWAY, and the
 * client's next RPC opens a new connection, balanced again.
 */
class ProxyConnectionLayer implements Balancing {
  readonly layer = "proxy-connection" as const;
  readonly policyName: string;
  private readonly source = new SimSource();
  private readonly cluster: ClusterRuntime;
  private readonly pins = new ConnectionPins();
  private nextConn = 1;
  private readonly limit: number;

  constructor(private readonly ctx: SimContext) {
    const lb = ctx.cluster.policy.loadBalancer;
    this.policyName = describePolicy(lb);
    this.limit = ctx.cluster.policy.connectionPool.http.maxRequestsPerConnection;
    this.cluster = clusterRuntime(ctx, ctx.cluster, policyOf(ctx, lb, "activeConnections"), this.source);
  }

  setBackends(backends: readonly SimBackend[]): void {
    this.source.set(backends);
  }

  send = (rpc: SimRpc): void => {
    const channel = rpc.channel;
    if (channel.conn === null) {
      connectThen(this.ctx, channel, rpc, (c) => ((c.conn = this.nextConn++), true), this.send);
      return;
    }
    const conn = channel.conn;
    const endpoint = this.pins.endpointFor(conn, this.cluster, channel.request);
    if (this.pins.countStream(conn, this.limit)) {
      // GOAWAY: this RPC and those in flight finish; the next one opens a new connection.
      this.pins.closed(conn);
      channel.conn = null;
    }
    forward(this.ctx, this.cluster, endpoint, rpc);
  };

  connectionsPerBackend(count: number): number[] {
    return pinnedCounts(this.ctx, this.cluster.endpointList(), count);
  }

  stop(): void {
    this.cluster.stop();
  }
}

/**
 * Plain L4 (kube-proxy): each connection goes to a random backend when it opens and stays
 * there for its life; only the backend going away moves it. No circuit breaker, no ejection.
 */
class L4Layer implements Balancing {
  readonly layer = "l4" as const;
  readonly policyName = "RANDOM per connection";
  private readonly source = new SimSource();
  private readonly cluster: ClusterRuntime;
  private readonly channels = new Set<SimChannel>();

  constructor(private readonly ctx: SimContext) {
    const l4: Cluster = { ...ctx.cluster, policy: { ...ctx.cluster.policy, outlierDetection: null } };
    this.cluster = clusterRuntime(ctx, l4, policyOf(ctx, { kind: "simple", policy: "RANDOM" }, "activeConnections"), this.source);
  }

  setBackends(backends: readonly SimBackend[]): void {
    this.source.set(backends);
    // A removed pod closes its connections (gracefully: RPCs in flight finish).
    for (const channel of this.channels) {
      if (channel.pinned !== null && !this.cluster.isCurrent(channel.pinned)) this.close(channel);
    }
  }

  private close(channel: SimChannel): void {
    channel.pinned!.load.activeConnections--;
    channel.pinned = null;
    channel.conn = null;
  }

  send = (rpc: SimRpc): void => {
    const channel = rpc.channel;
    if (channel.pinned === null) {
      connectThen(this.ctx, channel, rpc, (c) => this.open(c), this.send);
      return;
    }
    sendTo(this.ctx, this.cluster, channel.pinned, rpc);
  };

  private open(channel: SimChannel): boolean {
    const pick = this.cluster.pick(channel.request);
    if (pick.kind !== "endpoint") return false;
    channel.pinned = pick.endpoint;
    channel.pinned.load.activeConnections++;
    this.channels.add(channel);
    return true;
  }

  connectionsPerBackend(count: number): number[] {
    return pinnedCounts(this.ctx, this.cluster.endpointList(), count);
  }

  stop(): void {
    this.cluster.stop();
  }
}

const CLIENT_LB: Readonly<Record<ClientPolicy, LoadBalancerSettings>> = {
  round_robin: { kind: "simple", policy: "ROUND_ROBIN" },
  least_request: { kind: "simple", policy: "LEAST_REQUEST" },
  random: { kind: "simple", policy: "RANDOM" },
};

/**
 * Client-side balancing (sluice/client in grpc-js): each channel balances every RPC over its
 * own connections to every backend, with only its own RPCs in its load counters. A new
 * backend reaches a channel after discoveryDelayMs (DNS re-resolution); a removed one leaves
 * at once (its GOAWAY).
 */
class ClientLayer implements Balancing {
  readonly layer = "client" as const;
  readonly policyName: string;
  private readonly channels: SimChannel[] = [];
  private current: readonly SimBackend[] = [];

  constructor(private readonly ctx: SimContext) {
    this.policyName = ctx.scenario.clientPolicy;
  }

  private channelCluster(channel: SimChannel): ClusterRuntime {
    if (channel.cluster === null) {
      channel.source = new SimSource();
      channel.source.set(this.current);
      const policy = policyOf(this.ctx, CLIENT_LB[this.ctx.scenario.clientPolicy], "activeRequests");
      // No circuit breaker in a client channel.
      const http = { ...this.ctx.cluster.policy.connectionPool.http, http2MaxRequests: Infinity };
      const config: Cluster = { ...this.ctx.cluster, policy: { ...this.ctx.cluster.policy, connectionPool: { ...this.ctx.cluster.policy.connectionPool, http } } };
      channel.cluster = clusterRuntime(this.ctx, config, policy, channel.source);
      this.channels.push(channel);
    }
    return channel.cluster;
  }

  setBackends(backends: readonly SimBackend[]): void {
    const before = new Set(this.current);
    this.current = backends;
    const removedOnly = backends.every((b) => before.has(b));
    const apply = (): void => {
      for (const c of this.channels) c.source!.set(this.current);
    };
    if (removedOnly || this.channels.length === 0) apply();
    else {
      // Removals reach channels at once; additions after the re-resolution delay.
      for (const c of this.channels) c.source!.set(backends.filter((b) => before.has(b)));
      this.ctx.clock.setTimer(this.ctx.scenario.discoveryDelayMs, apply);
    }
  }

  send = (rpc: SimRpc): void => {
    forward(this.ctx, this.channelCluster(rpc.channel), undefined, rpc);
  };

  connectionsPerBackend(count: number): number[] {
    return new Array<number>(count).fill(0);
  }

  stop(): void {
    for (const c of this.channels) c.cluster!.stop();
  }
}
