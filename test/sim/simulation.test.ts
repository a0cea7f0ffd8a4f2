// The simulator runs the proxy's own balancing code on a virtual clock: these tests replay
// the connection-mode story (scenario `seed`: three clients pinned to pod 1, pods 2 and 3 join
// later) and the other built-in scenarios and check what each layer and policy must show.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Layer, Scenario } from "../../src/sim/scenario.js";
import { SCENARIOS } from "../../src/sim/scenarios.js";
import { simulate } from "../../src/sim/simulation.js";
import { summarize, type SimSummary } from "../../src/sim/summary.js";
import { configWith, seedConfig, type SimConfig } from "./sim-config.js";

function run(scenario: Scenario, layer: Layer = scenario.layer, cfg: SimConfig = seedConfig()): SimSummary {
  return summarize(simulate({ scenario, config: cfg.config, cluster: cfg.cluster, layer }));
}

function share(s: SimSummary, name: string): number {
  return s.backends.find((b) => b.name === name)!.share;
}

test("seed, proxy in connection mode: all on pod 1 until pods 2 and 3 come; cycling at 100 RPCs and LEAST_CONN spread them within a second", () => {
  const scenario = SCENARIOS["seed"]!;
  const sim = simulate({ scenario, ...seedConfig(), layer: "proxy-connection" });
  const s = summarize(sim);
  // Before pods 2 and 3 exist, pod 1 takes everything.
  const before = sim.recorder.rpcs[0]!.slice(0, 4);
  assert.ok(before.every((n) => n > 0));
  assert.equal(sim.recorder.rpcs[1]![3] ?? 0, 0);
  assert.equal(s.failed, 0);
  assert.notEqual(s.timeToBalanceMs, null);
  assert.ok(s.timeToBalanceMs! <= 1000, `balanced after ${s.timeToBalanceMs} ms`);
  // Over the last 10 s each pod has about a third, and one connection each.
  const last = (b: number): number => sim.recorder.rpcs[b]!.slice(40).reduce((a, x) => a + x, 0);
  const total = last(0) + last(1) + last(2);
  for (let b = 0; b < 3; b++) assert.ok(Math.abs(last(b) / total - 1 / 3) < 0.04, `pod-${b + 1}: ${last(b) / total}`);
  assert.deepEqual(
    s.backends.map((b) => b.connections),
    [1, 1, 1],
  );
  // 3,000 RPS cycled every 100 RPCs: 30 new connections a second.
  assert.ok(Math.abs(s.connectionsPerS - 30) < 1.5, String(s.connectionsPerS));
});

test("seed through plain L4: the connections stay on pod 1 for life (connection stickiness); pods 2 and 3 never get an RPC", () => {
  const s = run(SCENARIOS["seed"]!, "l4");
  assert.equal(share(s, "pod-1"), 1);
  assert.equal(s.timeToBalanceMs, null);
  assert.equal(s.backends[0]!.connections, 3);
});

test("connection mode without maxRequestsPerConnection never rebalances either", () => {
  const s = run(SCENARIOS["seed"]!, "proxy-connection", configWith("    loadBalancer: { simple: LEAST_REQUEST }\n"));
  assert.equal(share(s, "pod-1"), 1);
  assert.equal(s.timeToBalanceMs, null);
});

test("connection mode cycled by the Proxy's downstream maxConnectionAge instead: balanced too, within an age", () => {
  const cfg = configWith("    loadBalancer: { simple: LEAST_REQUEST }\n", "  mode: connection\n  downstream:\n    maxConnectionAge: 2s\n");
  const s = run(SCENARIOS["seed"]!, "proxy-connection", cfg);
  assert.equal(s.maxRequestsPerConnection, 0);
  assert.ok(s.timeToBalanceMs !== null && s.timeToBalanceMs !== undefined && s.timeToBalanceMs <= 2500, String(s.timeToBalanceMs));
  // Each connection lives 1.8 to 2.2 s: 3 connections, about 1.5 new ones a second.
  assert.ok(s.connectionsPerS > 1.2 && s.connectionsPerS < 1.8, String(s.connectionsPerS));
});

test("seed in request mode: every RPC balanced; the new pods are at their share in the first whole bucket", () => {
  const s = run(SCENARIOS["seed"]!, "proxy-request");
  assert.ok(s.timeToBalanceMs! <= SCENARIOS["seed"]!.bucketMs, String(s.timeToBalanceMs));
});

test("scale-out: the 4th pod gets a quarter of the load in connection mode; never through L4", () => {
  const scenario: Scenario = { ...SCENARIOS["scale-out"]!, durationMs: 40_000, measureFromMs: 25_000 };
  const conn = run(scenario, "proxy-connection");
  assert.ok(Math.abs(share(conn, "pod-4") - 0.25) < 0.02, String(share(conn, "pod-4")));
  assert.ok(conn.timeToBalanceMs !== null && conn.timeToBalanceMs! < 2000);
  assert.ok(conn.maxOverMean < 1.1, String(conn.maxOverMean));
  const l4 = run(scenario, "l4");
  assert.equal(share(l4, "pod-4"), 0);
  assert.equal(l4.timeToBalanceMs, null);
});

test("client-side balancing: a new pod reaches the channels only after DNS re-resolution", () => {
  const scenario: Scenario = { ...SCENARIOS["scale-out"]!, durationMs: 40_000, discoveryDelayMs: 5000 };
  const s = run(scenario, "client");
  const t90 = s.backends.find((b) => b.name === "pod-4")!.timeTo90Ms!;
  assert.ok(t90 > 5000 && t90 <= 5000 + 2 * scenario.bucketMs, String(t90));
});

test("slow-pod: LEAST_REQUEST sends the slow pod much less than ROUND_ROBIN does", () => {
  const scenario = SCENARIOS["slow-pod"]!;
  const lr = run(scenario, "proxy-request");
  const rr = run(scenario, "proxy-request", configWith("    loadBalancer: { simple: ROUND_ROBIN }\n"));
  assert.ok(Math.abs(share(rr, "pod-2") - 1 / 3) < 0.01, `round robin: ${share(rr, "pod-2")}`);
  assert.ok(share(lr, "pod-2") < 0.3, `least request: ${share(lr, "pod-2")}`);
  assert.ok(lr.p99Ms < rr.p99Ms, `p99 ${lr.p99Ms} vs ${rr.p99Ms}`);
});

test("failing-pod: outlier detection ejects the pod, so far fewer RPCs fail than without it", () => {
  const scenario = SCENARIOS["failing-pod"]!;
  const ejecting = run(
    scenario,
    "proxy-request",
    configWith("    loadBalancer: { simple: ROUND_ROBIN }\n    outlierDetection: { consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s }\n"),
  );
  const plain = run(scenario, "proxy-request", configWith("    loadBalancer: { simple: ROUND_ROBIN }\n"));
  // Round robin without ejection: a third of the RPCs for 60 s fail.
  assert.ok(plain.failed > 50_000, String(plain.failed));
  assert.ok(ejecting.failed < 100, String(ejecting.failed));
  assert.equal(ejecting.failures["UNAVAILABLE from the backend"], ejecting.failed);
});

test("rolling-restart: every pod replaced, no RPC fails, every new pod reaches its share", () => {
  const s = run(SCENARIOS["rolling-restart"]!);
  assert.equal(s.failed, 0);
  assert.deepEqual(
    s.backends.map((b) => b.name),
    ["pod-1", "pod-2", "pod-3", "pod-4", "pod-5", "pod-6"],
  );
  assert.deepEqual(
    s.backends.slice(0, 3).map((b) => b.removedAtMs),
    [10_000, 25_000, 40_000],
  );
  assert.ok(s.timeToBalanceMs !== null && s.timeToBalanceMs !== undefined && s.timeToBalanceMs < 3000, String(s.timeToBalanceMs));
});

test("http2MaxRequests: RPCs past the limit fail as overflow", () => {
  const scenario: Scenario = {
    ...SCENARIOS["slow-pod"]!,
    events: [],
    durationMs: 5000,
    measureFromMs: 0,
    backends: { ...SCENARIOS["slow-pod"]!.backends, serviceTime: { kind: "constant", ms: 50 } },
  };
  // 3,000 RPS x 50 ms = 150 in flight; the limit lets 100 through.
  const s = run(scenario, "proxy-request", configWith("    connectionPool: { http: { http2MaxRequests: 100 } }\n"));
  assert.ok((s.failures["overflow (http2MaxRequests)"] ?? 0) > 1000, JSON.stringify(s.failures));
});

test("the same seed gives the same run; another seed another one", () => {
  const scenario = { ...SCENARIOS["seed"]!, durationMs: 5000 };
  const a = run(scenario);
  const b = run(scenario);
  const c = run({ ...scenario, seed: 2 });
  assert.deepEqual(a.backends, b.backends);
  assert.notDeepEqual(
    a.backends.map((x) => x.rpcs),
    c.backends.map((x) => x.rpcs),
  );
});

test("a closed loop keeps its RPCs in flight: the rate follows the service time", () => {
  const scenario: Scenario = {
    ...SCENARIOS["slow-pod"]!,
    events: [],
    durationMs: 10_000,
    measureFromMs: 0,
    clients: { count: 2, channelsEach: 1, load: { kind: "concurrency", inFlight: 5 }, rampMs: 0 },
    backends: { count: 2, serviceTime: { kind: "constant", ms: 10 }, concurrency: Infinity },
  };
  const s = run(scenario, "proxy-request");
  // 10 in flight, 10 ms each: 1,000 RPCs per second for 10 s.
  assert.ok(Math.abs(s.rpcs - 10_000) <= 20, String(s.rpcs));
});

test("slow-pod, client-side: peak_ewma sends the slow pod less than least_request, which sends it less than round_robin", () => {
  const scenario = SCENARIOS["slow-pod"]!;
  const slowShare = (clientPolicy: Scenario["clientPolicy"]): number => share(run({ ...scenario, clientPolicy }, "client"), "pod-2");
  const rr = slowShare("round_robin");
  const lr = slowShare("least_request");
  const ewma = slowShare("peak_ewma");
  assert.ok(Math.abs(rr - 1 / 3) < 0.01, `round_robin ${rr}`);
  assert.ok(lr < rr - 0.02, `least_request ${lr} vs round_robin ${rr}`);
  assert.ok(ewma < lr, `peak_ewma ${ewma} vs least_request ${lr}`);
});

test("client layer: a pod added with a 30 s discovery delay stays unseen however other pods come and go meanwhile", () => {
  const scenario: Scenario = {
    ...SCENARIOS["scale-out"]!,
    durationMs: 20_000,
    discoveryDelayMs: 30_000,
    events: [
      { atMs: 5000, kind: "add", count: 1 },
      { atMs: 6000, kind: "remove", backend: "pod-1" },
      { atMs: 7000, kind: "add", count: 1 },
    ],
  };
  const s = run(scenario, "client");
  assert.equal(s.backends.find((b) => b.name === "pod-4")!.rpcs, 0);
  assert.equal(s.backends.find((b) => b.name === "pod-5")!.rpcs, 0);
  // pod-1's share went to pods 2 and 3 at once.
  assert.ok(share(s, "pod-2") > 0.43 && share(s, "pod-3") > 0.43, JSON.stringify(s.backends.map((b) => b.share)));
});

test("l4: a removed pod's connections reconnect to the pods left, and nothing fails", () => {
  const scenario: Scenario = {
    ...SCENARIOS["scale-out"]!,
    durationMs: 20_000,
    measureFromMs: 11_000,
    events: [{ atMs: 10_000, kind: "remove", backend: "pod-1" }],
  };
  const s = run(scenario, "l4");
  assert.equal(s.failed, 0);
  assert.equal(s.backends[0]!.rpcs, 0);
  assert.equal(
    s.backends.slice(1).reduce((n, b) => n + b.connections, 0),
    12,
    "all 12 channels reconnected",
  );
});

test("overload: RPCs still queued at the end are counted as unfinished, not lost", () => {
  const scenario: Scenario = {
    ...SCENARIOS["slow-pod"]!,
    events: [],
    durationMs: 60_000,
    measureFromMs: 0,
    clients: { count: 1, channelsEach: 1, load: { kind: "rate", rps: 200, arrival: "uniform" }, rampMs: 0 },
    backends: { count: 1, serviceTime: { kind: "constant", ms: 10 }, concurrency: 1 },
  };
  // 200 RPS offered, 100 served: after 60 s, 6,000 wait; 60 s more serves 6,000 of them... and the rest stay.
  const s = run(scenario, "proxy-request", configWith("    loadBalancer: { simple: ROUND_ROBIN }\n"));
  assert.ok(s.unfinished > 0, String(s.unfinished));
  assert.equal(s.rpcs + s.unfinished, 12_000);
});

test("max/mean and CV are computed from the backends' rates", () => {
  // Round robin over 3 equal pods: every rate the same.
  const even = run({ ...SCENARIOS["slow-pod"]!, events: [] }, "proxy-request", configWith("    loadBalancer: { simple: ROUND_ROBIN }\n"));
  assert.ok(even.cv < 0.01 && Math.abs(even.maxOverMean - 1) < 0.01, `${even.cv} ${even.maxOverMean}`);
  // L4 seed: rates 3,000, 0, 0 over the pods up (pods 2 and 3 from 1 s): mean ~1,000, max/mean ~3, CV ~sqrt(2).
  const l4 = run(SCENARIOS["seed"]!, "l4");
  assert.ok(Math.abs(l4.maxOverMean - 3) < 0.05, String(l4.maxOverMean));
  assert.ok(Math.abs(l4.cv - Math.SQRT2) < 0.03, String(l4.cv));
});
