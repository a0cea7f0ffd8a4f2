// Helpers the balancing layers share: a ClusterRuntime on the virtual clock, the policy from
// the registry, sending an RPC through the cluster's admission as the proxy's forwarder does,
// and opening a channel's connection.
import { createPolicy } from "../balancer/registry.js";
import { AttemptEnd } from "../balancer/outcome.js";
import type { LbEndpoint, PolicyFactory } from "../balancer/types.js";
import type { Cluster, LoadBalancerSettings } from "../config/types.js";
import { Status } from "../core/status.js";
import { ClusterGuards } from "../resilience/cluster-guards.js";
import { ClusterRuntime } from "../upstream/cluster.js";
import type { SimChannel, SimContext, SimRpc, SimSource } from "./layer.js";

/**
 * A cluster that balances only (the simulator opens no connections), with outlier detection
 * attached as the proxy attaches it. Its guards live as long as the simulation's virtual clock.
 */
export function clusterRuntime(ctx: SimContext, cluster: Cluster, policy: PolicyFactory, source: SimSource): ClusterRuntime {
  const runtime = new ClusterRuntime(cluster, policy, source, null, { clock: ctx.clock, random: ctx.random });
  new ClusterGuards(runtime, { clock: ctx.clock, latencyOutlier: ctx.config.listener.latencyOutlier }).start();
  void runtime.start();
  return runtime;
}

export function policyOf(ctx: SimContext, settings: LoadBalancerSettings, loadMetric: "activeRequests" | "activeConnections"): PolicyFactory {
  return createPolicy(settings, { random: ctx.random, loadMetric, choiceCount: ctx.config.listener.leastRequestChoiceCount, clock: ctx.clock });
}

export function describePolicy(settings: LoadBalancerSettings): string {
  if (settings.kind === "simple") return settings.policy;
  return settings.algorithm.kind === "ringHash" ? "RING_HASH" : "MAGLEV";
}

/**
 * Sends an RPC the way the proxy's forwarder does, through the same admission: the
 * http2MaxRequests circuit breaker, the pick (unless pinned), the counts while it runs and
 * their release when it ends; the cluster's outcome channel hears how it ended (outlier
 * detection, and a policy that learns from latency: peak EWMA).
 */
export function forward(ctx: SimContext, cluster: ClusterRuntime, pinned: LbEndpoint | undefined, rpc: SimRpc): void {
  const admission = cluster.admit();
  if (admission === null) {
    rpc.finish(-1, "overflow (http2MaxRequests)");
    return;
  }
  let endpoint = pinned;
  if (endpoint === undefined) {
    const pick = cluster.pick(rpc.channel.request);
    if (pick.kind !== "endpoint") {
      admission.end(false);
      rpc.finish(-1, "no healthy upstream");
      return;
    }
    endpoint = pick.endpoint;
  }
  const backend = ctx.backends.get(endpoint.key);
  if (backend === undefined) {
    // PASSTHROUGH picks the address in :authority, which no simulated backend has.
    admission.end(false);
    rpc.finish(-1, `picked ${endpoint.key}, which is no simulated backend`);
    return;
  }
  admission.enter(endpoint);
  ctx.recorder.sent(backend.index, ctx.clock.now());
  backend.serve((status) => {
    admission.attemptEnded(AttemptEnd.RESPONSE, status);
    admission.end(true);
    rpc.finish(backend.index, status === Status.OK ? null : "UNAVAILABLE from the backend");
  });
}

/** Connection counts per backend index from the endpoints' activeConnections. */
export function pinnedCounts(ctx: SimContext, endpoints: readonly LbEndpoint[], count: number): number[] {
  const out = new Array<number>(count).fill(0);
  for (const e of endpoints) {
    const b = ctx.backends.get(e.key);
    if (b !== undefined) out[b.index] = e.load.activeConnections;
  }
  return out;
}

/**
 * Opens a channel's connection (connectMs), then hands it the RPCs that waited; `open` says
 * whether there was anything to connect to (if not, they fail as a refused connection would).
 */
export function connectThen(ctx: SimContext, channel: SimChannel, rpc: SimRpc, open: (channel: SimChannel) => boolean, send: (rpc: SimRpc) => void): void {
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
