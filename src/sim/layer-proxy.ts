// sluice proxy as a balancing layer: request mode (every RPC balanced) and connection mode
// (pins and cycling, the proxy's own ConnectionPins).
import { ConnectionPins } from "../balancer/connection-pins.js";
import { jitteredAge } from "../core/keepalive.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import type { SimBackend } from "./backend.js";
import { SimSource, type Balancing, type SimChannel, type SimContext, type SimRpc } from "./layer.js";
import { clusterRuntime, connectThen, describePolicy, forward, pinnedCounts, policyOf } from "./layer-support.js";

/** sluice proxy, request mode: every RPC balanced on its own. */
export class ProxyRequestLayer implements Balancing {
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
 * sluice proxy, connection mode: a client connection is pinned to one endpoint (LEAST_CONN
 * compares pinned connections); after maxRequestsPerConnection RPCs it gets GOAWAY, and the
 * client's next RPC opens a new connection, balanced again.
 */
export class ProxyConnectionLayer implements Balancing {
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
    // Here LEAST_REQUEST compares the connections pinned to each endpoint: least connections, as
    // the name LEAST_CONN (Istio's alias of LEAST_REQUEST) says.
    if (this.policyName === "LEAST_REQUEST") this.policyName = "LEAST_REQUEST on pinned connections (LEAST_CONN)";
    this.limit = ctx.cluster.policy.connectionPool.http.maxRequestsPerConnection;
    this.cluster = clusterRuntime(ctx, ctx.cluster, policyOf(ctx, lb, "activeConnections"), this.source);
  }

  setBackends(backends: readonly SimBackend[]): void {
    this.source.set(backends);
  }

  send = (rpc: SimRpc): void => {
    const channel = rpc.channel;
    if (channel.conn === null) {
      connectThen(this.ctx, channel, rpc, (c) => this.open(c), this.send);
      return;
    }
    const conn = channel.conn;
    const endpoint = this.pins.endpointFor(conn, this.cluster, channel.request);
    if (this.pins.countStream(conn, this.limit)) {
      // GOAWAY: this RPC and those in flight finish; the next one opens a new connection.
      this.pins.closed(conn);
      channel.conn = null;
      channel.ageTimer?.cancel();
      channel.ageTimer = null;
    }
    forward(this.ctx, this.cluster, endpoint, rpc);
  };

  /** A new client connection; with the Proxy's downstream maxConnectionAge it gets GOAWAY at that age, as the proxy does. */
  private open(channel: SimChannel): boolean {
    const conn = this.nextConn++;
    channel.conn = conn;
    const age = this.ctx.config.listener.downstream.maxConnectionAgeMs;
    if (age !== null) {
      channel.ageTimer = this.ctx.clock.setTimer(jitteredAge(age, this.ctx.random), () => {
        channel.ageTimer = null;
        if (channel.conn !== conn) return;
        this.pins.closed(conn);
        channel.conn = null;
      });
    }
    return true;
  }

  connectionsPerBackend(count: number): number[] {
    return pinnedCounts(this.ctx, this.cluster.endpointList(), count);
  }

  stop(): void {
    this.cluster.stop();
  }
}
