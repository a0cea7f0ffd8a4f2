// Client-side balancing (sluice/client in grpc-js) as a balancing layer: each channel has its
// own policy and its own view of the load.
import { peakEwmaPolicy } from "../balancer/peak-ewma.js";
import type { PolicyFactory } from "../balancer/types.js";
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
  private readonly policies = new Map<SimChannel, PolicyFactory>();
  private current: readonly SimBackend[] = [];

  constructor(private readonly ctx: SimContext) {
    this.policyName = ctx.scenario.clientPolicy;
  }

  private channelCluster(channel: SimChannel): ClusterRuntime {
    if (channel.cluster === null) {
      channel.source = new SimSource();
      channel.source.set(this.current);
      const name = this.ctx.scenario.clientPolicy;
      const ctx = this.ctx;
      // sluice/client's peak_ewma (Linkerd's defaults), on the virtual clock.
      const policy =
        name === "peak_ewma"
          ? peakEwmaPolicy({ random: ctx.random, loadMetric: "activeRequests", choiceCount: ctx.config.listener.leastRequestChoiceCount, clock: ctx.clock })
          : policyOf(ctx, CLIENT_LB[name], "activeRequests");
      this.policies.set(channel, policy);
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
    const cluster = this.channelCluster(rpc.channel);
    forward(this.ctx, cluster, undefined, rpc, this.policies.get(rpc.channel)?.onCallEnded);
  };

  connectionsPerBackend(count: number): number[] {
    return new Array<number>(count).fill(0);
  }

  stop(): void {
    for (const c of this.channels) c.cluster!.stop();
  }
}
