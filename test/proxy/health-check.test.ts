// Active health checks through the whole proxy: backends serving grpc.health.v1 (Watch),
// RPCs counted at the backends. The proxy runs on a ManualClock, so nothing happens on an
// interval unless the test says so; status changes arrive on the Watch streams.
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { clusterName } from "../../src/config/model.js";
import { ManualClock } from "../../src/core/clock.js";
import { Status } from "../../src/core/status.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { nextEvent, startHealthPods, type HealthMode, type HealthPod } from "../support/health.js";
import { proxyInFront } from "../support/proxy-with-pods.js";
import { stopPods } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const ECHO = clusterName("echo", 50051, null);

/** RPCs each pod served during `n` sequential calls (all must succeed). */
async function served(client: grpc.Client, pods: readonly HealthPod[], n: number): Promise<number[]> {
  const before = pods.map((p) => p.stats.rpcs);
  for (let i = 0; i < n; i++) {
    const r = await callUnary(client, Buffer.from(`rpc-${i}`));
    assert.equal(r.code, Status.OK, r.details);
  }
  return pods.map((p, i) => p.stats.rpcs - before[i]!);
}

/** Health pods (`modes`) that stop when `t` ends, after the proxy in front of them. */
async function healthPods(t: TestContext, modes: readonly HealthMode[]): Promise<HealthPod[]> {
  const pods = await startHealthPods(modes);
  defer(t, () => stopPods(pods));
  return pods;
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("an endpoint whose backend turns NOT_SERVING gets no new RPCs; SERVING again, it returns after healthyThreshold", async (t) => {
      const pods = await healthPods(t, ["watch", "watch", "watch"]);
      const clock = new ManualClock();
      const h = await proxyInFront(t, pods, {
        config: (ports) => [
          listenerYaml("  healthCheck: {interval: 5s, timeout: 1s, unhealthyThreshold: 3, healthyThreshold: 2}\n", transport),
          serviceEntryYaml("echo", ports),
          destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }"),
        ],
        deps: { clock },
      });
      const client = h.client;
      const cluster = h.cluster(ECHO);
      const key2 = `127.0.0.1:${pods[1]!.port}`;
      // Warm: every endpoint had its first (SERVING) answer before the proxy listened.
      const checker = h.proxy.healthChecker(ECHO)!;
      assert.deepEqual(
        pods.map((p) => checker.state(`127.0.0.1:${p.port}`)),
        ["healthy", "healthy", "healthy"],
      );
      assert.deepEqual(await served(client, pods, 6), [2, 2, 2]);

      const out = nextEvent(cluster.events, "endpoint-health", (k) => k === key2);
      pods[1]!.setStatus("NOT_SERVING");
      assert.deepEqual((await out).slice(1), ["unhealthy", true, "Watch answered NOT_SERVING"]);
      assert.deepEqual(await served(client, pods, 6), [3, 0, 3]);

      // First SERVING answer of two: still out.
      const first = nextEvent(checker.events, "result", (k) => k === key2);
      pods[1]!.setStatus("SERVING");
      assert.equal((await first)[2], "unhealthy");
      assert.deepEqual(await served(client, pods, 6), [3, 0, 3]);

      // One interval later the Check sent beside the Watch answers SERVING: back in.
      const back = nextEvent(cluster.events, "endpoint-health", (k) => k === key2);
      clock.advance(5000);
      assert.deepEqual((await back).slice(1), ["unhealthy", false, "Check: SERVING"]);
      assert.deepEqual(await served(client, pods, 6), [2, 2, 2]);
      assert.deepEqual(
        pods.map((p) => p.calls.checks),
        [1, 1, 1],
        "one Check per interval beside each Watch",
      );

      // The proxy's stop closes every health check stream (the backends see the cancel soon after).
      await h.stop();
      await Promise.all(pods.filter((p) => p.calls.watchesCancelled === 0).map((p) => nextEvent(p.events, "watch-cancelled")));
      assert.deepEqual(
        pods.map((p) => [p.calls.watches, p.calls.watchesCancelled]),
        [
          [1, 1],
          [1, 1],
          [1, 1],
        ],
      );
    });

    test("connection mode: a connection pinned to an endpoint that turns NOT_SERVING is balanced again", async (t) => {
      const pods = await healthPods(t, ["watch", "watch"]);
      const h = await proxyInFront(t, pods, {
        config: (ports) => [listenerYaml("  mode: connection\n  healthCheck: {}\n", transport), serviceEntryYaml("echo", ports)],
        deps: { clock: new ManualClock() },
      });
      const first = await served(h.client, pods, 4);
      const pinned = first.findIndex((n) => n === 4);
      assert.ok(pinned >= 0, `one connection, one endpoint: ${first.join(",")}`);
      const out = nextEvent(h.cluster(ECHO).events, "endpoint-health", (_k, _e, excluded) => excluded === true);
      pods[pinned]!.setStatus("NOT_SERVING");
      await out;
      const after = await served(h.client, pods, 4);
      assert.deepEqual(after, pinned === 0 ? [0, 4] : [4, 0]);
    });
  });

for (const { hosts, expected } of [
  { hosts: "hosts: [other]", expected: Status.OK },
  { hosts: "", expected: Status.UNAVAILABLE },
]) {
  test(`healthCheck {${hosts}}: hosts picks the checked clusters; a checked backend without the Health service gets no RPCs`, async (t) => {
    const transport = TEST_TRANSPORTS[0]!;
    const pods = await healthPods(t, ["none", "watch"]);
    const h = await proxyInFront(t, pods, {
      config: ([echo, other]) => [
        listenerYaml(`  healthCheck: {${hosts}}\n`, transport),
        serviceEntryYaml("echo", [echo!]),
        serviceEntryYaml("other", [other!]),
      ],
      deps: { clock: new ManualClock() },
    });
    const other = h.newClient({ "grpc.default_authority": "other" });
    assert.equal(h.proxy.healthChecker(ECHO) !== undefined, hosts === "", "echo is checked only when hosts names it");
    const r = await callUnary(h.client, Buffer.from("x"));
    assert.equal(r.code, expected, `${hosts}: ${r.details}`);
    if (expected !== Status.OK) assert.match(r.details, /no healthy upstream/);
    assert.equal((await callUnary(other, Buffer.from("y"))).code, Status.OK);
    assert.equal(pods[0]!.stats.rpcs, expected === Status.OK ? 1 : 0, "only the unchecked run reaches the backend without Health");
  });
}
