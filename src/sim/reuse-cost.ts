// What `maxRequestsPerConnection: 1` costs in connection mode, measured by the simulator for
// `sluice analyze`: the simulator's own traffic through the cluster's policy in connection
// mode, once with the cluster as configured and once with connections reused for 100 RPCs
// (examples/seed.yaml's maxRequestsPerConnection), and what differs: connections opened per
// second and the latency RPCs see while they wait for them.
import type { Cluster, ProxyConfig } from "../config/types.js";
import type { Scenario } from "./scenario.js";
import { SCENARIOS } from "./scenarios.js";
import { simulate } from "./simulation.js";
import { summarize, type SimSummary } from "./summary.js";

const REUSED = 100;

/** The traffic: scale-out's clients (3 x 4 channels x 1,000 RPS) on 3 pods, 10 simulated seconds. */
const TRAFFIC: Scenario = { ...SCENARIOS["scale-out"]!, name: "reuse-cost", durationMs: 10_000, measureFromMs: 1000, events: [] };

export function reuseCost(config: ProxyConfig, cluster: Cluster): string | undefined {
  // The simulator models client connections cycling (connection mode), not the proxy's
  // upstream pool, which is where request mode pays for it: no figure rather than another setup's.
  if (config.listener.mode !== "connection") return undefined;
  const limit = cluster.policy.connectionPool.http.maxRequestsPerConnection;
  if (limit === 0 || limit >= REUSED) return undefined;
  const run = (c: Cluster): SimSummary => summarize(simulate({ scenario: TRAFFIC, config, cluster: c, layer: "proxy-connection" }));
  const http = { ...cluster.policy.connectionPool.http, maxRequestsPerConnection: REUSED };
  const reused: Cluster = { ...cluster, policy: { ...cluster.policy, connectionPool: { ...cluster.policy.connectionPool, http } } };
  const as = run(cluster);
  const fix = run(reused);
  const rps = (TRAFFIC.clients.load.kind === "rate" ? TRAFFIC.clients.load.rps : 0) * TRAFFIC.clients.count;
  return (
    `simulated (sluice sim's own test traffic, not yours: ${rps.toLocaleString("en-US")} RPC/s from ${TRAFFIC.clients.count} clients on ${TRAFFIC.backends.count} pods, ${TRAFFIC.connectMs} ms per connection handshake): ` +
    `${Math.round(as.connectionsPerS).toLocaleString("en-US")} new connections per second and p50/p99 ${as.p50Ms.toFixed(1)}/${as.p99Ms.toFixed(1)} ms, ` +
    `against ${Math.round(fix.connectionsPerS).toLocaleString("en-US")} per second and ${fix.p50Ms.toFixed(1)}/${fix.p99Ms.toFixed(1)} ms with maxRequestsPerConnection: ${REUSED}`
  );
}
