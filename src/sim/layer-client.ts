// Client-side balancing (sluice/client in grpc-js) as a balancing layer: each channel has its
// own policy and its own view of the load.
import { peakEwmaPolicy } from "../balancer/peak-ewma.js";
import type { Cluster, LoadBalancerSettings } from "../config/types.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import type { SimBackend } from "./backend.js";
import { SimSource, type Balancing, type SimChannel, type SimContext, type SimRpc } from "./layer.js";
import { clusterRuntime, forward, policyOf } from "./layer-support.js";
import type { ClientPolicy } from "./scenario.js";

const CLIENT_LB: Readonly<Record<Exclude<ClientPolicy, "peak_ewma">, LoadBalancerSettings>> = {
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
export class ClientLayer implements Balancing {
  readonly layer = "client" as const;
  readonly policyName: string;
  private readonly channels: SimChannel[] = [];
  /** Each channel's policy, for the ones that learn from call outcomes (peak EWMA). */
  private current: readonly SimBackend[] = [];
  /** When each backend reaches the channels' resolvers. */
  private readonly visibleAt = new Map<SimBackend, number>();

  /** The cluster as a channel sees it: no circuit breaker in a client channel. */
  private readonly channelConfig: Cluster;

  constructor(private readonly ctx: SimContext) {
    this.policyName = ctx.scenario.clientPolicy;
    const pool = ctx.cluster.policy.connectionPool;
    this.channelConfig = { ...ctx.cluster, policy: { ...ctx.cluster.policy, connectionPool: { ...pool, http: { ...pool.http, http2MaxRequests: Infinity } } } };
  }

  private channelCluster(channel: SimChannel): ClusterRuntime {
    if (channel.cluster === null) {
      channel.source = new SimSource();
      channel.source.set(this.visible());
      const name = this.ctx.scenario.clientPolicy;
      const ctx = this.ctx;
      // sluice/client's peak_ewma (Linkerd's defaults), on the virtual clock.
      const policy =
        name === "peak_ewma"
          ? peakEwmaPolicy({ random: ctx.random, loadMetric: "activeRequests", choiceCount: ctx.config.listener.leastRequestChoiceCount, clock: ctx.clock })
          : policyOf(ctx, CLIENT_LB[name], "activeRequests");
      channel.cluster = clusterRuntime(this.ctx, this.channelConfig, policy, channel.source);
      this.channels.push(channel);
    }
    return channel.cluster;
  }

  setBackends(backends: readonly SimBackend[]): void {
    const now = this.ctx.clock.now();
    // A backend becomes visible discoveryDelayMs after it was added (DNS re-resolution),
    // whatever else happens meanwhile; a removed one leaves at once (its GOAWAY).
    for (const b of backends) {
      if (this.visibleAt.has(b)) continue;
      const at = b.addedAt > 0 ? b.addedAt + this.ctx.scenario.discoveryDelayMs : 0;
      this.visibleAt.set(b, at);
      if (at > now) this.ctx.clock.setTimer(at - now, () => this.apply());
    }
    this.current = backends;
    this.apply();
  }

  /** Every channel's endpoints: the backends up now that its resolver has seen. */
  private visible(): SimBackend[] {
    const now = this.ctx.clock.now();
    return this.current.filter((b) => (this.visibleAt.get(b) ?? 0) <= now);
  }

  private apply(): void {
    const visible = this.visible();
    for (const c of this.channels) c.source!.set(visible);
  }

  send = (rpc: SimRpc): void => {
    const cluster = this.channelCluster(rpc.channel);
    forward(this.ctx, cluster, undefined, rpc);
  };

  connectionsPerBackend(count: number): number[] {
    return new Array<number>(count).fill(0);
  }

  stop(): void {
    for (const c of this.channels) c.cluster!.stop();
  }
}
