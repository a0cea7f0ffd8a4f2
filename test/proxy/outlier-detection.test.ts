// Outlier detection end to end: real grpc-js backends behind the proxy, time driven by an
// injected ManualClock. Ejection happens as the failing attempt ends, before the client
// sees the response, so each call's outcome is settled when the next one starts.
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ManualClock } from "../../src/core/clock.js";
import type { TransportKind } from "../../src/config/types.js";
import { callUnary } from "../../src/demo/echo-client.js";
import type { Proxy } from "../../src/proxy/proxy.js";
import type { ClusterRuntime } from "../../src/upstream/cluster.js";
import { destinationRuleYaml, listenerYaml, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import { echo, fail, type ScriptedPod } from "../support/scripted-pods.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

interface Setup {
  readonly clock: ManualClock;
  readonly proxy: Proxy;
  readonly cluster: ClusterRuntime;
  readonly good: ScriptedPod[];
  readonly bad: ScriptedPod[];
  readonly client: grpc.Client;
  /** Unary calls one after another; the statuses seen. */
  calls(n: number): Promise<number[]>;
  /** Reloads the same config with other outlierDetection settings. */
  reload(outlierDetection: string): Promise<unknown>;
}

/** `goodPods` echo pods, then `badPods` answering UNAVAILABLE to every call, behind a proxy on a ManualClock. */
async function setup(t: TestContext, transport: TransportKind, goodPods: number, badPods: number, outlierDetection: string): Promise<Setup> {
  const clock = new ManualClock();
  const failing = fail(grpc.status.UNAVAILABLE, "this pod is failing");
  const yaml = (ports: readonly number[], outlierDetection: string): string[] => [
    listenerYaml("", transport),
    serviceEntryYaml("echo", ports),
    // Round robin, so every endpoint in the picker gets its turn in a sequence of calls.
    destinationRuleYaml("echo", `    loadBalancer: { simple: ROUND_ROBIN }\n    outlierDetection: ${outlierDetection}\n`),
    // Retries off, so each failing attempt reaches the client (Istio's default policy would
    // retry it on a good pod; the detector sees the attempt either way).
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: echo }\nspec:\n  hosts: [echo]\n  http:\n  - retries: { attempts: 0 }\n    route: [{ destination: { host: echo } }]",
  ];
  const h = await proxyWithPods(t, {
    pods: [...Array.from({ length: goodPods }, () => echo), ...Array.from({ length: badPods }, () => failing)],
    config: (ports) => yaml(ports, outlierDetection),
    deps: { clock },
  });
  const ports = h.pods.map((p) => p.port);
  return {
    clock,
    proxy: h.proxy,
    cluster: h.cluster(),
    good: h.pods.slice(0, goodPods),
    bad: h.pods.slice(goodPods),
    client: h.client,
    async calls(n) {
      const codes: number[] = [];
      for (let i = 0; i < n; i++) codes.push((await callUnary(h.client, Buffer.from("x"))).code);
      return codes;
    },
    reload: (od) => h.proxy.reconfigure(parseConfig(yaml(ports, od).join("\n---\n"))),
  };
}

const keyOf = (port: number): string => `127.0.0.1:${port}`;

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("one of 3 backends fails every call: ejected at once, no traffic while ejected, back after baseEjectionTime, then ejected twice as long", async (t) => {
      const s = await setup(t, transport, 2, 1, "{ consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s }");
      const bad = s.bad[0]!;
      const badKey = keyOf(bad.port);
      const events: string[] = [];
      s.cluster.events.on("endpoint-health", (key: string, exclusion: string, excluded: boolean) => {
        events.push(`${exclusion} ${excluded} ${key === badKey ? "bad" : key} at ${s.clock.now()}`);
      });
      /** Calls one at a time until the bad pod is ejected; how many failed. */
      const failuresUntilEjected = async (): Promise<number> => {
        let failed = 0;
        for (let n = 0; !s.cluster.isExcluded(badKey, "ejected"); n++) {
          assert.ok(n < 100, "the failing pod was never ejected");
          if ((await callUnary(s.client, Buffer.from("x"))).code !== 0) failed++;
        }
        return failed;
      };
      const goodRpcs = (): number => s.good.reduce((sum, p) => sum + p.stats.rpcs, 0);
      // Every third call reaches the bad pod; its 5th failure in a row ejects it, with no
      // time passing at all (Istio's default maxEjectionPercent 10 still allows one of 3).
      assert.equal(await failuresUntilEjected(), 5);
      assert.equal(bad.calls, 5);
      assert.deepEqual(events, ["ejected true bad at 0"]);

      // Ejected: it gets nothing, and every call succeeds.
      let before = goodRpcs();
      assert.deepEqual(await s.calls(30), new Array<number>(30).fill(0));
      assert.equal(bad.calls, 5);
      assert.equal(goodRpcs() - before, 30);

      // Readmitted on the interval tick once 30 s have passed, not before.
      s.clock.advance(29_999);
      assert.equal(s.cluster.isExcluded(badKey, "ejected"), true);
      s.clock.advance(1);
      assert.equal(s.cluster.isExcluded(badKey, "ejected"), false);
      assert.equal(events[1], "ejected false bad at 30000");

      // Back in the rotation it fails again, and is ejected for 2 x 30 s.
      assert.equal(await failuresUntilEjected(), 5);
      assert.equal(bad.calls, 10);
      assert.equal(s.proxy.outlierDetector("echo|50051|")?.ejection(badKey)?.forMs, 60_000);
      s.clock.advance(59_999);
      before = goodRpcs();
      assert.deepEqual(await s.calls(30), new Array<number>(30).fill(0));
      assert.equal(bad.calls, 10);
      assert.equal(goodRpcs() - before, 30);
      s.clock.advance(1);
      assert.equal(s.cluster.isExcluded(badKey, "ejected"), false);

      assert.deepEqual(events, ["ejected true bad at 0", "ejected false bad at 30000", "ejected true bad at 30000", "ejected false bad at 90000"]);
      const d = s.proxy.outlierDetector("echo|50051|");
      assert.ok(d !== undefined);
      assert.equal(d.timesEjected(badKey), 2);
      assert.equal(d.ejectionsTotal, 2);
      assert.equal(d.ejectionsByReason["consecutive-5xx"], 2);
      assert.equal(d.activeEjections, 0);
    });

    for (const [minHealthPercent, panic] of [
      [50, true],
      [0, false],
    ] as const) {
      test(`minHealthPercent ${minHealthPercent}: with 2 of 3 endpoints ejected, ${panic ? "panic: balancing over all of them again" : "the healthy one takes everything"}`, async (t) => {
        const s = await setup(t, transport, 1, 2, `{ consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent: ${minHealthPercent} }`);
        const badKeys = s.bad.map((p) => keyOf(p.port));
        const badCalls = (): number => s.bad.reduce((sum, p) => sum + p.calls, 0);
        for (let n = 0; !badKeys.every((k) => s.cluster.isExcluded(k, "ejected")); n++) {
          assert.ok(n < 100, "the failing pods were never both ejected");
          await s.calls(1);
          // One ejected of 3 leaves 67% healthy: no panic yet either way.
          if (badKeys.filter((k) => s.cluster.isExcluded(k, "ejected")).length === 1) assert.equal(s.cluster.panic, false);
        }
        assert.equal(badCalls(), 2);
        assert.equal(s.cluster.panic, panic);
        const before = s.good[0]!.stats.rpcs;
        const codes = await s.calls(30);
        if (panic) {
          // Round robin over all three: the ejected (failing) pods get their thirds.
          assert.equal(badCalls(), 2 + 20);
          assert.equal(codes.filter((c) => c === 0).length, 10);
        } else {
          assert.equal(badCalls(), 2);
          assert.equal(s.good[0]!.stats.rpcs - before, 30);
        }
      });
    }

    test("a reload that changes outlierDetection readmits what the old detector ejected, and the new settings eject from then on", async (t) => {
      const s = await setup(t, transport, 2, 1, "{ consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s }");
      const bad = s.bad[0]!;
      const badKey = keyOf(bad.port);
      const old = s.proxy.outlierDetector("echo|50051|")!;
      while (!s.cluster.isExcluded(badKey, "ejected")) await s.calls(1);
      assert.equal(bad.calls, 5);
      await s.reload("{ consecutive5xxErrors: 2, interval: 10s, baseEjectionTime: 30s }");
      assert.equal(s.cluster.isExcluded(badKey, "ejected"), false, "readmitted by the reload, with no time passing");
      const detector = s.proxy.outlierDetector("echo|50051|")!;
      assert.notEqual(detector, old, "a new detector with the new settings");
      assert.equal((old as unknown as { timer: unknown }).timer, undefined, "the old detector stopped");
      while (!s.cluster.isExcluded(badKey, "ejected")) await s.calls(1);
      assert.equal(bad.calls, 7, "ejected at the 2nd failure in a row under the new settings");
      assert.equal(detector.ejectionsTotal, 1);
    });
  });
