// The simulator against reality, for sim-vs-live-seed.test.ts and sim-vs-live-scale-out.test.ts:
// `seed` and `scale-out` run live through sluice's proxy on loopback (grpc-js clients and echo
// pods, test/sim/live-run.ts) and in the simulator, with the same parameters; the shares after
// the new pods come and the time to balance must agree within 15%.
//
// Scaled to be measurable: 12 clients of one channel each send 50 RPC/s on a fixed schedule
// (uniform arrivals) and start one after another over 4 s, so that with
// maxRequestsPerConnection 200 their connections cycle every 4 s, one every 333 ms (not all
// at once). New pods come at 7.8 s, just before a cycle round; each pod answers after 2 ms.
// LEAST_CONN in connection mode then moves one connection per cycle to the emptiest pod, so
// the time to balance is a few cycles long (1 s for scale-out, 2.6 s for seed): many 100 ms
// buckets, so that 15% means something.
//
// Both runs are in scenario time: the live run sends the RPCs in the order of their
// scheduled times, adds the pods between the RPCs due before and after 7.8 s, and records
// each RPC at its scheduled time (live-run.ts says why), so timer lag on a loaded machine
// cannot move a connection cycle across the add or a bucket boundary. What is compared is
// what the proxy and grpc-js did with that schedule against what the simulator says they do.
//
// A live run is some 7,000 RPCs through grpc-js clients, the proxy and grpc-js pods in one
// process: ~4 s of CPU, so ~40 s on a machine that gives the process a tenth of a core. Each
// scenario has a test file of its own, so that each gets the test runner's whole per-file time.
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import type { Scenario } from "../../src/sim/scenario.js";
import { SCENARIOS } from "../../src/sim/scenarios.js";
import { simulate } from "../../src/sim/simulation.js";
import { summarize, type SimSummary } from "../../src/sim/summary.js";
import { parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { runLive } from "./live-run.js";

/** When the new pods come, in scenario time: just before a round of connection cycles. */
export const ADD_AT_MS = 7800;

function configYaml(): string {
  return `apiVersion: sluice.dev/v1alpha1
kind: Proxy
metadata: { name: sim-vs-live }
spec:
  listen: 127.0.0.1:0
  mode: connection
  admin: none
---
${serviceEntryYaml("grpc-service", [1])}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: grpc-service }
spec:
  host: grpc-service
  trafficPolicy:
    loadBalancer: { simple: LEAST_CONN }
    connectionPool: { http: { http2MaxRequests: 1000, maxRequestsPerConnection: 200 } }
`;
}

export function scaled(name: "seed" | "scale-out", pods: number, added: number, durationMs: number): Scenario {
  return {
    ...SCENARIOS[name]!,
    durationMs,
    bucketMs: 100,
    measureFromMs: ADD_AT_MS,
    clients: { count: 12, channelsEach: 1, load: { kind: "rate", rps: 50, arrival: "uniform" }, rampMs: 4000 },
    backends: { count: pods, serviceTime: { kind: "constant", ms: 2 }, concurrency: Infinity },
    events: [{ atMs: ADD_AT_MS, kind: "add", count: added }],
    layer: "proxy-connection",
  };
}

function within(live: number, sim: number, what: string): void {
  const off = Math.abs(live - sim) / sim;
  assert.ok(off <= 0.15, `${what}: live ${live.toFixed(3)} vs simulated ${sim.toFixed(3)} (${(100 * off).toFixed(1)}% apart)`);
}

export async function compare(t: TestContext, scenario: Scenario): Promise<{ live: SimSummary; sim: SimSummary }> {
  const config = parseConfig(configYaml());
  const cluster = [...config.clusters.values()][0]!;
  const sim = summarize(simulate({ scenario, config, cluster, layer: "proxy-connection" }));
  const liveRun = await runLive(scenario, config);
  const live = summarize(liveRun);
  assert.equal(liveRun.failed, 0, "no live RPC failed");
  const table = (s: SimSummary): string => s.backends.map((b) => `${b.name} ${(100 * b.share).toFixed(1)}% t90=${b.timeTo90Ms}`).join(", ");
  const detail = `\n  live: ${table(live)}; balanced after ${live.timeToBalanceMs}\n  sim:  ${table(sim)}; balanced after ${sim.timeToBalanceMs}`;
  t.diagnostic(`${detail}\n  live run: ${liveRun.rounds} rounds of RPCs`);
  assert.deepEqual(
    live.backends.map((b) => b.name),
    sim.backends.map((b) => b.name),
  );
  // Pods that came together are alike: which of them won a tie (LEAST_CONN breaks ties at
  // random) differs between runs, so their shares are compared in order of size.
  const group = (s: SimSummary, added: boolean): number[] =>
    s.backends
      .filter((b) => b.addedAtMs > 0 === added)
      .map((b) => b.share)
      .sort((a, b) => a - b);
  for (const added of [false, true]) {
    const simShares = group(sim, added);
    group(live, added).forEach((share, i) => within(share, simShares[i]!, `${added ? "added" : "first"} pods' shares (in order of size)${detail}`));
  }
  assert.ok(typeof sim.timeToBalanceMs === "number" && typeof live.timeToBalanceMs === "number", `both balance${detail}`);
  within(live.timeToBalanceMs, sim.timeToBalanceMs, `time to balance${detail}`);
  return { live, sim };
}
