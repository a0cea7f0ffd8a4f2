// Active gRPC health checks against real grpc-js backends serving grpc.health.v1 (the
// official HealthImplementation), on a ManualClock: every interval and timeout is driven by
// the test, every result awaited as an event. The cluster is a real ClusterRuntime, so the
// picker's view is checked too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { registerBuiltins, createPolicy } from "../../src/balancer/registry.js";
import type { HealthCheckSettings } from "../../src/config/types.js";
import { ManualClock } from "../../src/core/clock.js";
import { systemRandom } from "../../src/core/random.js";
import { ManualEndpointSource } from "../../src/discovery/manual.js";
import { HealthChecker, type CheckOutcome, type HealthState } from "../../src/resilience/health-checker.js";
import { createClientTransport } from "../../src/transport/create.js";
import { ClusterRuntime } from "../../src/upstream/cluster.js";
import { makeRequest } from "../balancer/fixtures.js";
import { parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { nextEvent, startHealthPods, type HealthMode, type HealthPod } from "../support/health.js";
import { stopPods } from "../support/scripted-pods.js";
import { defer, type Owner } from "../support/teardown.js";

const SETTINGS: HealthCheckSettings = { intervalMs: 5000, timeoutMs: 1000, unhealthyThreshold: 2, healthyThreshold: 1, serviceName: "", hosts: null };

interface Ctx {
  readonly pods: HealthPod[];
  readonly keys: string[];
  readonly clock: ManualClock;
  readonly cluster: ClusterRuntime;
  readonly checker: HealthChecker;
  readonly source: ManualEndpointSource;
  /** The next check result of endpoint `key`. */
  readonly result: (key: string) => Promise<{ outcome: CheckOutcome; state: HealthState }>;
  /** The endpoint keys the picker hands out over `n` round-robin picks. */
  readonly picked: (n: number) => Set<string>;
}

/**
 * Health pods serving as `modes` say, a started cluster over them and a health checker of it
 * with `settings`; when `owner` ends the checker stops, then the cluster, then the pods.
 */
async function checkerOn(owner: Owner, modes: readonly HealthMode[], settings: Partial<HealthCheckSettings>): Promise<Ctx> {
  registerBuiltins();
  const pods = await startHealthPods(modes);
  defer(owner, () => stopPods(pods));
  const config = [
    ...parseConfig(
      serviceEntryYaml(
        "echo",
        pods.map((p) => p.port),
      ),
    ).clusters.values(),
  ][0]!;
  const endpoints = pods.map((p) => ({ address: "127.0.0.1", port: p.port, weight: 1, labels: {} }));
  const source = new ManualEndpointSource(endpoints);
  const clock = new ManualClock();
  const policy = createPolicy({ kind: "simple", policy: "ROUND_ROBIN" }, { random: systemRandom, loadMetric: "activeRequests", choiceCount: 2 });
  const cluster = new ClusterRuntime(config, policy, source, createClientTransport("node", { initialWindowSize: 65535 }), { clock });
  defer(owner, () => cluster.stop());
  const checker = new HealthChecker(cluster, { ...SETTINGS, ...settings }, { clock });
  defer(owner, () => checker.stop());
  const ctx: Ctx = {
    pods,
    keys: pods.map((p) => `127.0.0.1:${p.port}`),
    clock,
    cluster,
    checker,
    source,
    result: async (key) => {
      const [, outcome, state] = await nextEvent(checker.events, "result", (k) => k === key);
      return { outcome: outcome as CheckOutcome, state: state as HealthState };
    },
    picked: (n) => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const p = cluster.pick(makeRequest());
        if (p.kind === "endpoint") seen.add(p.endpoint.key);
      }
      return seen;
    },
  };
  await cluster.start();
  return ctx;
}

test("endpoints start out of balancing; the first SERVING answer admits one at once, whatever healthyThreshold", async (t) => {
  const { keys, cluster, checker, picked } = await checkerOn(t, ["watch", "check-only"], { healthyThreshold: 3 });
  // Before any answer: excluded (Envoy's FAILED_ACTIVE_HC on a new host).
  assert.deepEqual(
    keys.map((k) => cluster.isExcluded(k, "unhealthy")),
    [true, true],
  );
  assert.equal(cluster.pick(makeRequest()).kind, "fail");
  await checker.warm();
  assert.deepEqual(
    keys.map((k) => checker.state(k)),
    ["healthy", "healthy"],
  );
  assert.deepEqual(picked(4), new Set(keys));
});

test("NOT_SERVING takes an endpoint out at the next check, without waiting for unhealthyThreshold; healthyThreshold SERVING checks bring it back", async (t) => {
  const { pods, keys, clock, checker, result, picked } = await checkerOn(t, ["check-only", "check-only"], { unhealthyThreshold: 3, healthyThreshold: 2 });
  await checker.warm();
  const [a, b] = keys as [string, string];
  /** One interval: both endpoints are checked (awaiting both, so no timeout fires early). */
  const round = async (): Promise<{ outcome: CheckOutcome; state: HealthState }> => {
    const results = Promise.all([result(a), result(b)]);
    clock.advance(5000);
    const [ra, rb] = await results;
    assert.equal(rb.state, "healthy");
    return ra;
  };
  pods[0]!.setStatus("NOT_SERVING");
  assert.deepEqual(await round(), { outcome: { ok: false, network: false, why: "Check answered NOT_SERVING" }, state: "unhealthy" });
  assert.deepEqual(picked(4), new Set([b]));
  pods[0]!.setStatus("SERVING");
  assert.equal((await round()).state, "unhealthy", "one SERVING answer of two");
  assert.deepEqual(picked(4), new Set([b]));
  assert.equal((await round()).state, "healthy");
  assert.deepEqual(picked(4), new Set(keys));
});

test("Watch: status changes are followed as they stream, with no polling", async (t) => {
  const { pods, keys, cluster, checker } = await checkerOn(t, ["watch"], {});
  await checker.warm();
  const pod = pods[0]!;
  const key = keys[0]!;
  assert.deepEqual(pod.calls, { checks: 0, watches: 1, watchesCancelled: 0 });
  // The clock never moves: only the stream can carry these.
  const out = nextEvent(cluster.events, "endpoint-health", (k) => k === key);
  pod.setStatus("NOT_SERVING");
  assert.deepEqual((await out).slice(1), ["unhealthy", true, "Watch answered NOT_SERVING"]);
  const back = nextEvent(cluster.events, "endpoint-health", (k) => k === key);
  pod.setStatus("SERVING");
  assert.deepEqual((await back).slice(1), ["unhealthy", false, "Watch: SERVING"]);
  assert.deepEqual(pod.calls, { checks: 0, watches: 1, watchesCancelled: 0 });
});

test("Watch: while the stream is open, a Check every interval counts toward healthyThreshold", async (t) => {
  const { pods, keys, clock, checker, result } = await checkerOn(t, ["watch"], { healthyThreshold: 2 });
  await checker.warm();
  const key = keys[0]!;
  const down = result(key);
  pods[0]!.setStatus("NOT_SERVING");
  assert.equal((await down).state, "unhealthy");
  const first = result(key);
  pods[0]!.setStatus("SERVING");
  assert.equal((await first).state, "unhealthy");
  const second = result(key);
  clock.advance(5000);
  assert.deepEqual(await second, { outcome: { ok: true, why: "Check: SERVING" }, state: "healthy" });
  assert.equal(pods[0]!.calls.watches, 1);
});

test("Watch: a hung backend keeps its stream open but not its Checks: their timeouts take it out", async (t) => {
  const { pods, keys, clock, checker, result } = await checkerOn(t, ["watch"], { unhealthyThreshold: 2 });
  await checker.warm();
  const pod = pods[0]!;
  const key = keys[0]!;
  pod.control.hangChecks = true;
  for (const expected of ["healthy", "unhealthy"] as const) {
    const asked = nextEvent(pod.events, "check");
    clock.advance(5000);
    await asked;
    const r = result(key);
    clock.advance(1000);
    assert.deepEqual(await r, { outcome: { ok: false, network: true, why: "Check (beside Watch) timed out after 1000ms" }, state: expected });
  }
  assert.equal(pod.calls.watches, 1, "the Watch stream stayed open all along");
});

test("a backend whose Watch is UNIMPLEMENTED is polled with Check every interval", async (t) => {
  const { pods, keys, clock, checker, result } = await checkerOn(t, ["check-only"], {});
  await checker.warm();
  const pod = pods[0]!;
  assert.deepEqual(pod.calls, { checks: 1, watches: 0, watchesCancelled: 0 });
  assert.equal(checker.state(keys[0]!), "healthy");
  clock.advance(4999);
  assert.equal(pod.calls.checks, 1);
  const next = result(keys[0]!);
  clock.advance(1);
  assert.deepEqual(await next, { outcome: { ok: true, why: "Check: SERVING" }, state: "healthy" });
  assert.equal(pod.calls.checks, 2);
});

test("a backend without the Health service (UNIMPLEMENTED) fails its checks and gets no RPCs, as in Envoy", async (t) => {
  const { keys, checker, picked } = await checkerOn(t, ["none", "watch"], {});
  await checker.warm();
  assert.equal(checker.state(keys[0]!), "unhealthy");
  assert.equal(checker.state(keys[1]!), "healthy");
  assert.deepEqual(picked(4), new Set([keys[1]]));
});

test("a check timeout is a network failure: unhealthyThreshold of them in a row take a healthy endpoint out", async (t) => {
  // One endpoint: on the manual clock another's timeout would fire before its answer came.
  const { pods, keys, clock, cluster, checker, result, picked } = await checkerOn(t, ["check-only"], { unhealthyThreshold: 2 });
  await checker.warm();
  const pod = pods[0]!;
  const key = keys[0]!;
  pod.control.hangChecks = true;
  for (const expected of ["healthy", "unhealthy"] as const) {
    const asked = nextEvent(pod.events, "check");
    clock.advance(5000);
    await asked; // the backend holds the Check...
    const r = result(key);
    clock.advance(999);
    assert.equal(checker.state(key), "healthy", "not before the timeout");
    clock.advance(1); // ...until the timeout
    assert.deepEqual(await r, { outcome: { ok: false, network: true, why: "Check timed out after 1000ms" }, state: expected });
  }
  assert.equal(cluster.pick(makeRequest()).kind, "fail");
  // Answering again, it is back at its first SERVING answer (healthyThreshold 1).
  pod.control.hangChecks = false;
  clock.advance(5000);
  assert.equal((await result(key)).state, "healthy");
  assert.deepEqual(picked(2), new Set([key]));
});

test("an endpoint that leaves the cluster has its health check stream closed; stop() closes the rest", async (t) => {
  const { pods, keys, checker, source } = await checkerOn(t, ["watch", "watch"], {});
  await checker.warm();
  const cancelled = nextEvent(pods[0]!.events, "watch-cancelled");
  source.set([{ address: "127.0.0.1", port: pods[1]!.port, weight: 1, labels: {} }]);
  await cancelled;
  assert.equal(checker.state(keys[0]!), undefined);
  assert.equal(pods[1]!.calls.watchesCancelled, 0);
  const last = nextEvent(pods[1]!.events, "watch-cancelled");
  checker.stop();
  await last;
});
