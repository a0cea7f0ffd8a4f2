// The route's retry policy end to end: real grpc-js backends scripted to fail, the proxy
// retrying (or not) by retryOn, attempts, the previous-hosts rule, the buffer limit,
// perTryTimeout, and the cluster's maxRetries / retryBudget; every retry counted.
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { callUnary, type CallResult } from "../../src/demo/echo-client.js";
import { deadPort, destinationRuleYaml, listenerYaml, md, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods, type ProxyWithPods } from "../support/proxy-with-pods.js";
import { echo, fail, hang, type Arrival, type Script } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { ManualEndpointSource } from "../../src/discovery/manual.js";
import type { ResolvedEndpoint } from "../../src/discovery/types.js";
import type { ReplayBufferStats } from "../../src/upstream/admission.js";

const at = (port: number): ResolvedEndpoint => ({ address: "127.0.0.1", port, weight: 1, labels: {} });
const ROUND_ROBIN = destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }");
const UNAVAILABLE: Script = fail(grpc.status.UNAVAILABLE);

function virtualService(retries: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo }
spec:
  hosts: [echo]
  http:
  - retries: ${retries}
    route: [{ destination: { host: echo } }]`;
}

const sequential = async (client: grpc.Client, n: number, metadata?: Record<string, string>, request = Buffer.from("hi")): Promise<CallResult[]> => {
  const out: CallResult[] = [];
  for (let i = 0; i < n; i++) out.push(await callUnary(client, request, metadata === undefined ? undefined : md(metadata)));
  return out;
};

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    /** Pods scripted by `scripts`, the ServiceEntry's endpoints in that order; `docs` after it; `spec` in the Proxy resource. */
    const through = (
      t: TestContext,
      scripts: readonly Script[],
      docs: readonly string[] = [],
      spec = "",
      extraPorts: readonly number[] = [],
    ): Promise<ProxyWithPods> =>
      proxyWithPods(t, { pods: scripts, config: (ports) => [listenerYaml(spec, transport), serviceEntryYaml("echo", [...extraPorts, ...ports]), ...docs] });

    test("Istio's default policy (no VirtualService): UNAVAILABLE from one backend is retried on the other, and counted", async (t) => {
      const h = await through(t, [UNAVAILABLE, echo], [ROUND_ROBIN]);
      const [bad, ok] = [h.pods[0]!, h.pods[1]!];
      const results = await sequential(h.client, 20);
      assert.deepEqual(
        results.filter((r) => r.code !== Number(grpc.status.OK)).map((r) => r.details),
        [],
      );
      assert.equal(ok.stats.rpcs, 20);
      assert.ok(bad.calls >= 5, `the failing backend saw ${bad.calls} calls`);
      const stats = h.cluster().stats.retry;
      assert.equal(stats.retries, bad.calls, "one retry per failed attempt");
      assert.equal(stats.successes, bad.calls);
      assert.equal(h.cluster().stats.activeRetries, 0);
    });

    test("retryOn decides: a status not in it goes back to the client after one attempt", async (t) => {
      const h = await through(t, [UNAVAILABLE], [virtualService("{ attempts: 3, retryOn: internal }")]);
      const bad = h.pods[0]!;
      const [r] = await sequential(h.client, 1);
      assert.equal(r!.code, grpc.status.UNAVAILABLE);
      assert.equal(r!.details, "scripted UNAVAILABLE");
      assert.equal(bad.calls, 1);
      bad.script = fail(grpc.status.INTERNAL);
      const [again] = await sequential(h.client, 1);
      assert.equal(again!.code, grpc.status.INTERNAL);
      assert.equal(bad.calls, 1 + 4, "INTERNAL is in retryOn: the first try and 3 retries");
      const stats = h.cluster().stats.retry;
      assert.equal(stats.retries, 3);
      assert.equal(stats.limitExceeded, 1);
      assert.equal(stats.successes, 0);
    });

    for (const { retries, expected } of [
      { retries: "{ attempts: 0 }", expected: 0 },
      { retries: "{ attempts: 2 }", expected: 2 },
    ]) {
      test(`retries ${retries}: a connect failure is retried ${expected} times (attempts: 0 turns retries off, even for connect failures)`, async (t) => {
        const h = await through(t, [], [virtualService(retries)], "", [await deadPort()]);
        const [r] = await sequential(h.client, 1);
        assert.equal(r!.code, grpc.status.UNAVAILABLE);
        assert.match(r!.details, /upstream connect error/);
        assert.equal(h.cluster().stats.retry.retries, expected, retries);
      });
    }

    test("a response that began (headers sent) is never retried; a trailers-only one is, until attempts run out", async (t) => {
      const h = await through(t, [echo]);
      const ok = h.pods[0]!;
      let before = ok.stats.rpcs;
      const [withHeaders] = await sequential(h.client, 1, { "x-echo-status": "14" });
      assert.equal(withHeaders!.code, grpc.status.UNAVAILABLE);
      assert.equal(ok.stats.rpcs - before, 1, "headers were on their way to the client: no retry");
      before = ok.stats.rpcs;
      const [trailersOnly] = await sequential(h.client, 1, { "x-echo-status": "14", "x-echo-trailers-only": "1" });
      assert.equal(trailersOnly!.code, grpc.status.UNAVAILABLE);
      assert.equal(ok.stats.rpcs - before, 3, "the default policy: the first try and 2 retries");
      assert.equal(h.cluster().stats.retry.limitExceeded, 1);
    });

    for (const row of [
      { name: "by default (64 KiB) 100,000 bytes outgrow the buffer: no retry", spec: "", attempts: 1 },
      { name: "retryBufferLimit 200000 holds 100,000 bytes: the first try and 2 retries", spec: "  retryBufferLimit: 200000\n", attempts: 3 },
    ]) {
      test(`only a request that fits the retry buffer is retried: ${row.name}`, async (t) => {
        const big = Buffer.alloc(100_000, 1);
        const h = await through(t, [echo], [], row.spec);
        const ok = h.pods[0]!;
        const [r] = await sequential(h.client, 1, { "x-echo-status": "14", "x-echo-trailers-only": "1" }, big);
        assert.equal(r!.code, grpc.status.UNAVAILABLE);
        assert.equal(ok.stats.rpcs, row.attempts, row.name);
        assert.deepEqual(h.cluster().stats.replayBuffer, { bytes: 0, overLimit: row.attempts === 1 ? 1 : 0, overBudget: 0 });
      });
    }

    test("retryBufferBudget: the cluster keeps at most that many request bytes for replay; past it an RPC is not retried, and counted", async (t) => {
      // Five RPCs of 10,005 bytes each (one DATA frame) held by pod 1 before their answer: a
      // budget of 25,000 bytes keeps two of them whole, the three others are no longer kept.
      const held: Arrival[] = [];
      let source: ManualEndpointSource | undefined;
      const h = await proxyWithPods(t, {
        pods: [(call) => void held.push(call), echo],
        config: (ports) => [listenerYaml("  retryBufferBudget: 25000\n", transport), serviceEntryYaml("echo", ports)],
        // Pod 1 alone takes the first attempts; pod 2 joins before the answers, for the retries.
        deps: (pods) => {
          source = new ManualEndpointSource([at(pods[0]!.port)]);
          return { endpointSource: () => source! };
        },
      });
      const [holder, ok] = h.pods;
      const calls = Array.from({ length: 5 }, (_, i) => callUnary(h.client, Buffer.alloc(10_000, i)));
      await holder!.arrived(5);
      const buffer = (): ReplayBufferStats => h.cluster().stats.replayBuffer;
      // The requests' bytes reach the proxy before (or as) the pod sees them: wait for the last.
      for (let turn = 0; buffer().overBudget < 3; turn++) {
        assert.ok(turn < 100_000, `replay buffer: ${JSON.stringify(buffer())}`);
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.deepEqual(buffer(), { bytes: 2 * 10_005, overLimit: 0, overBudget: 3 });
      source!.set(h.pods.map((p) => at(p.port)));
      for (const call of held) call.fail(grpc.status.UNAVAILABLE);
      const results = await Promise.all(calls);
      assert.deepEqual(
        results.map((r) => r.code).sort(),
        [grpc.status.OK, grpc.status.OK, grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE],
        "the two requests kept are retried on pod 2; the others get pod 1's answer",
      );
      assert.equal(ok!.stats.rpcs, 2);
      assert.equal(h.cluster().stats.retry.retries, 2);
      assert.deepEqual(buffer(), { bytes: 0, overLimit: 0, overBudget: 3 }, "every byte kept is let go of");
    });

    for (const ignorePrevious of [true, false]) {
      test(`retryIgnorePreviousHosts ${ignorePrevious}: ${ignorePrevious ? "a retry goes to an endpoint not tried yet, even when round robin points back" : "the retry may go back to the backend that failed"}`, async (t) => {
        // The failing backend holds its first call until the healthy one has taken the second
        // RPC, so round robin points at the failing backend again when the retry picks.
        let held: Arrival | undefined;
        const holdFirst: Script = (call) => {
          if (held === undefined && call.n === 1) held = call;
          else call.fail(grpc.status.UNAVAILABLE);
        };
        const h = await through(t, [holdFirst, echo], [ROUND_ROBIN, virtualService(`{ attempts: 1, retryIgnorePreviousHosts: ${ignorePrevious} }`)]);
        const [bad, ok] = [h.pods[0]!, h.pods[1]!];
        // Round robin starts at a random endpoint: make sure the held call is the first one.
        let first = callUnary(h.client, Buffer.from("one"));
        await Promise.race([bad.arrived(1), once(ok.stats.events, "begin")]);
        if (bad.calls === 0) {
          await first;
          first = callUnary(h.client, Buffer.from("one"));
          await bad.arrived(1);
        }
        const okBefore = ok.stats.rpcs;
        const second = await callUnary(h.client, Buffer.from("two"));
        assert.equal(second.code, grpc.status.OK);
        held!.fail(grpc.status.UNAVAILABLE, "scripted UNAVAILABLE");
        const r = await first;
        if (ignorePrevious) {
          assert.equal(r.code, grpc.status.OK, r.details);
          assert.equal(ok.stats.rpcs - okBefore, 2, "the second RPC and the retry");
          assert.equal(bad.calls, 1);
        } else {
          assert.equal(r.code, grpc.status.UNAVAILABLE);
          assert.equal(bad.calls, 2, "the retry went back to the backend that failed");
        }
      });
    }

    test("a hash policy picks the failed endpoint again on every retry pick: the retry still goes to an untried one", async (t) => {
      const hash = destinationRuleYaml("echo", "    loadBalancer: { consistentHash: { httpHeaderName: x-user } }");
      const h = await through(t, [UNAVAILABLE, echo], [hash, virtualService("{ attempts: 1 }")]);
      const bad = h.pods[0]!;
      for (let i = 0; i < 16; i++) {
        const r = await callUnary(h.client, Buffer.from("x"), md({ "x-user": `user-${i}` }));
        assert.equal(r.code, grpc.status.OK, `user-${i}: ${r.details}`);
      }
      assert.ok(bad.calls > 0, "some keys hash to the failing endpoint");
      assert.equal(h.cluster().stats.retry.retries, bad.calls);
    });

    test("perTryTimeout: a stuck attempt is cut and retried elsewhere when retryOn covers it", async (t) => {
      const h = await through(t, [hang, echo], [ROUND_ROBIN, virtualService("{ attempts: 2, perTryTimeout: 200ms, retryOn: 'unavailable,reset' }")]);
      const stuck = h.pods[0]!;
      const results = await Promise.all([callUnary(h.client, Buffer.from("a")), callUnary(h.client, Buffer.from("b"))]);
      for (const r of results) assert.equal(r.code, grpc.status.OK, r.details);
      assert.equal(stuck.calls, 1);
      assert.equal(h.cluster().stats.retry.retries, 1);
    });

    test("perTryTimeout under Istio's default retryOn: a stuck attempt ends UNAVAILABLE (Envoy's 504), not retried", async (t) => {
      const h = await through(t, [hang], [virtualService("{ attempts: 2, perTryTimeout: 200ms }")]);
      const stuck = h.pods[0]!;
      const r = await callUnary(h.client, Buffer.from("a"));
      assert.equal(r.code, grpc.status.UNAVAILABLE);
      assert.match(r.details, /upstream per-try timeout \(200 ms\)/);
      assert.equal(stuck.calls, 1, "Istio's default retryOn does not cover a timeout");
    });

    test("a non-200 answer with a body, retried (503, Istio's default): the old stream's bytes never reach the client", async (t) => {
      // A backend that is not gRPC at all: 503 with a short text body, as a sidecar or gateway might.
      const bad = http2.createServer();
      let badCalls = 0;
      bad.on("stream", (stream) => {
        badCalls++;
        stream.on("error", () => undefined);
        stream.respond({ ":status": 503, "content-type": "text/plain" });
        stream.end("oops");
      });
      await new Promise<void>((r) => bad.listen(0, "127.0.0.1", r));
      defer(t, () => bad.close());
      const h = await through(t, [echo], [ROUND_ROBIN], "", [(bad.address() as AddressInfo).port]);
      for (let i = 0; i < 6; i++) {
        const request = Buffer.from(`rpc-${i}`);
        const r = await callUnary(h.client, request);
        assert.equal(r.code, grpc.status.OK, r.details);
        assert.deepEqual(r.response, request);
      }
      assert.ok(badCalls >= 2, `the 503 backend saw ${badCalls} calls`);
      assert.equal(h.cluster().stats.retry.retries, badCalls);
    });

    for (const [name, limit] of [
      ["maxRetries", "    connectionPool: { http: { maxRetries: 1 } }"],
      ["retryBudget", "    retryBudget: { percent: 0, minRetryConcurrency: 1 }"],
    ] as const) {
      test(`${name}: one RPC may retry at a time; the others get the backend's failure at once`, async (t) => {
        // The first 4 calls fail; later calls (the retry) wait until the test lets them answer.
        const waiting: Arrival[] = [];
        const failFour: Script = (call) => {
          if (call.n <= 4) call.fail(grpc.status.UNAVAILABLE);
          else waiting.push(call);
        };
        const h = await through(t, [failFour], [destinationRuleYaml("echo", limit)]);
        const bad = h.pods[0]!;
        const calls = [1, 2, 3, 4].map((i) => callUnary(h.client, Buffer.from(`rpc-${i}`)));
        await bad.arrived(5); // 4 first tries and the one retry allowed
        // The three refused retries end without waiting for the held one.
        const refused: CallResult[] = [];
        const pending = calls.map((c) => c.then((r) => (r.code !== Number(grpc.status.OK) ? refused.push(r) : 0)));
        while (refused.length < 3) await Promise.race(pending);
        // The backend's own answer reaches the client as it was (the refusal is counted).
        for (const r of refused) assert.equal(r.details, "scripted UNAVAILABLE");
        const cluster = h.cluster();
        assert.equal(cluster.stats.retry.overflows, 3);
        assert.equal(cluster.stats.activeRetries, 1);
        for (const call of waiting.splice(0)) call.echo();
        await Promise.all(pending);
        assert.equal(refused.length, 3);
        assert.equal(cluster.stats.retry.successes, 1);
        assert.equal(cluster.stats.activeRetries, 0);
      });
    }
  });
