// Proxy.reconfigure in process: what a reload plans (a table), and how a running proxy
// applies it: removed clusters retire with their RPCs in flight finishing, new clusters
// serve new RPCs, kept clusters take their new settings, connections stay open.
import { test } from "node:test";
import assert from "node:assert/strict";
import { callUnary } from "../../src/demo/echo-client.js";
import { describeReload, planReload } from "../../src/proxy/reconfigure.js";
import { destinationRuleYaml, listenerYaml, md, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";

const docs = (...d: string[]): string => d.join("\n---\n");

const base = docs(listenerYaml(), serviceEntryYaml("a", [1001, 1002]), serviceEntryYaml("b", [2001]));
const reloads: { name: string; next: string; expect: string; restart?: RegExp }[] = [
  { name: "same files", next: base, expect: "no changes" },
  {
    name: "an endpoint removed, a cluster added and one removed",
    next: docs(listenerYaml(), serviceEntryYaml("a", [1001]), serviceEntryYaml("c", [3001])),
    expect: "clusters +c|50051| -b|50051| ~a|50051|(endpoints); routes changed",
  },
  {
    name: "policy and pool settings",
    next: docs(base, destinationRuleYaml("a", "    loadBalancer: { simple: RANDOM }\n    connectionPool: { tcp: { maxConnections: 3 } }")),
    expect: "clusters ~a|50051|(loadBalancer,connectionPool)",
  },
  {
    name: "listener: live and restart-only fields",
    next: docs(base, "").replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:9\n  transport: node\n  drainTimeout: 1m\n  leastRequest: { choiceCount: 3 }"),
    expect: 'listener leastRequestChoiceCount,drainTimeoutMs; needs a restart (not applied): listen: 127.0.0.1:0 -> 127.0.0.1:9; transport: "h2" -> "node"',
  },
  {
    name: "the default admin address now written out: not a change",
    next: docs(base, "").replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:0\n  admin: 127.0.0.1:15000"),
    expect: "no changes",
  },
  {
    name: "another admin address",
    next: docs(base, "").replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:0\n  admin: 15001"),
    expect: "needs a restart (not applied): admin: 127.0.0.1:15000 -> 127.0.0.1:15001",
  },
];
for (const c of reloads) {
  test(`planReload, ${c.name}: ${c.expect}`, () => {
    const running = parseConfig(base);
    const plan = planReload(running, parseConfig(c.next.replace(/\n---\n$/, "")));
    assert.equal(describeReload(plan), c.expect, c.name);
    // Restart-only settings keep their running values.
    assert.deepEqual(plan.config.listener.listen, running.listener.listen, c.name);
    assert.equal(plan.config.listener.transport, running.listener.transport, c.name);
  });
}

test("reconfigure: a removed cluster's RPCs in flight finish OK; new RPCs follow the new routes and clusters at once", async (t) => {
  const proxy = await proxyWithPods(t, {
    pods: 3,
    config: ([a, b]) => [
      listenerYaml(),
      serviceEntryYaml("a", [a!]),
      serviceEntryYaml("b", [b!]),
      destinationRuleYaml("b", "    loadBalancer: { simple: ROUND_ROBIN }"),
    ],
  });
  const [p1, p2, p3] = [proxy.pods[0]!, proxy.pods[1]!, proxy.pods[2]!];
  const toA = proxy.newClient({ "grpc.default_authority": "a" });
  const toB = proxy.newClient({ "grpc.default_authority": "b" });
  const toC = proxy.newClient({ "grpc.default_authority": "c" });
  assert.equal((await callUnary(toA, Buffer.from("warm"))).code, 0);
  assert.equal((await callUnary(toB, Buffer.from("warm"))).code, 0);
  assert.equal((await callUnary(toC, Buffer.from("warm"))).code, 12, "no host c yet"); // UNIMPLEMENTED
  const slow = callUnary(toA, Buffer.from("slow"), md({ "x-echo-delay-ms": "300" }));
  await new Promise<void>((resolve) => p1.stats.events.once("begin", () => resolve()));
  const accepted = proxy.proxy.connectionsAccepted;
  // "a" leaves, "c" arrives, "b" gains pod 3 and a new policy.
  const plan = await proxy.proxy.reconfigure(
    parseConfig(
      docs(
        listenerYaml(),
        serviceEntryYaml("b", [p2.port, p3.port]),
        serviceEntryYaml("c", [p3.port]),
        destinationRuleYaml("b", "    loadBalancer: { simple: RANDOM }"),
      ),
    ),
  );
  assert.deepEqual([plan.added, plan.removed, [...plan.changed]], [["c|50051|"], ["a|50051|"], [["b|50051|", ["endpoints", "loadBalancer"]]]]);
  assert.equal(proxy.proxy.cluster("a|50051|"), undefined);

  const r = await callUnary(toA, Buffer.from("x"));
  assert.equal(r.code, 12, "no route for a removed host"); // UNIMPLEMENTED
  const c = await callUnary(toC, Buffer.from("x"));
  assert.equal(c.code, 0, c.details);
  assert.deepEqual(c.headers?.get("x-pod"), ["pod-3"]);
  const seen = new Set<string>();
  for (let i = 0; i < 30 && seen.size < 2; i++) seen.add(String((await callUnary(toB, Buffer.from("x"))).headers?.get("x-pod")[0]));
  assert.deepEqual([...seen].sort(), ["pod-2", "pod-3"]);

  const s = await slow;
  assert.equal(s.code, 0, s.details);
  assert.equal(proxy.proxy.connectionsAccepted, accepted, "the clients kept their connections");
});

/** Resolves once `cond` holds, checking after each turn of the event loop (no timers). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

test("a reload that removes a cluster still serves the RPCs waiting in its pools; its outlier detector stops", async (t) => {
  // One stream at a time to a's pod: a second RPC waits in the pool for it.
  const a = destinationRuleYaml(
    "a",
    "    connectionPool: { tcp: { maxConnections: 1 }, http: { maxConcurrentStreams: 1 } }\n    outlierDetection: { interval: 1s }",
  );
  const proxy = await proxyWithPods(t, { pods: 2, config: ([p1, p2]) => [listenerYaml(), serviceEntryYaml("a", [p1!]), a, serviceEntryYaml("b", [p2!])] });
  const [p1, p2] = [proxy.pods[0]!, proxy.pods[1]!];
  const toA = proxy.newClient({ "grpc.default_authority": "a" });
  assert.equal((await callUnary(toA, Buffer.from("warm"))).code, 0);
  const cluster = proxy.proxy.cluster("a|50051|")!;
  const detector = proxy.proxy.outlierDetector("a|50051|")!;
  const began = new Promise<void>((resolve) => p1.stats.events.once("begin", () => resolve()));
  const slow = callUnary(toA, Buffer.from("slow"), md({ "x-echo-delay-ms": "300" }));
  await began;
  const queued = callUnary(toA, Buffer.from("queued"));
  await until(() => cluster.pending.count === 1);
  await proxy.proxy.reconfigure(parseConfig(docs(listenerYaml(), serviceEntryYaml("b", [p2.port]))));
  assert.equal(proxy.proxy.cluster("a|50051|"), undefined);
  const [s, q] = await Promise.all([slow, queued]);
  assert.equal(s.code, 0, s.details);
  assert.equal(q.code, 0, `the queued RPC: ${q.details}`);
  assert.equal(p1.stats.rpcs, 3);
  assert.equal((detector as unknown as { timer: unknown }).timer, undefined, "the retired cluster's detector stopped");
});
