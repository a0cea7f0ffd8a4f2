// Plain L4 (kube-proxy) as a balancing layer: a connection pinned to a random backend for life.
import type { Cluster } from "../config/types.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import type { SimBackend } from "./backend.js";
import { SimSource, type Balancing, type SimChannel, type SimContext, type SimRpc } from "./layer.js";
import { clusterRuntime, connectThen, forward, pinnedCounts, policyOf } from "./layer-support.js";

/**
 * Plain L4 (kube-proxy): each connection goes to a random backend when it opens and stays
 * there for its life; only the backend going away moves it. No circuit breaker, no ejection.
 */
export class L4Layer implements Balancing {
  readonly layer = "l4" as const;
  readonly policyName = "RANDOM per connection";
  private readonly source = new SimSource();
  private readonly cluster: ClusterRuntime;
  private readonly channels = new Set<SimChannel>();

  constructor(private readonly ctx: SimContext) {
    // No circuit breaker: the RPCs still go through the cluster's admission, which never refuses.
    const policy = ctx.cluster.policy;
    const http = { ...policy.connectionPool.http, http2MaxRequests: Infinity };
    const l4: Cluster = { ...ctx.cluster, policy: { ...policy, outlierDetection: null, connectionPool: { ...policy.connectionPool, http } } };
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
    forward(this.ctx, this.cluster, channel.pinned, rpc);
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
