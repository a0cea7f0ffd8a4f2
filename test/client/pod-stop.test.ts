// Endpoint connectivity under sluice's policies: a pod that stops gets no more calls and
// the others serve them; with every pod gone, calls fail fast with UNAVAILABLE naming the
// policy and the last connection error (the channel is TRANSIENT_FAILURE, not queueing).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { register } from "../../src/client/register.js";
import { balancedPods, callPod, untilAllServed } from "./support.js";

register();

const policies: ReadonlyArray<{ name: string; config: object }> = [
  { name: "least_request", config: { least_request: {} } },
  { name: "peak_ewma", config: { peak_ewma: {} } },
];

for (const { name, config } of policies) {
  test(`${name}: a pod that stops gets no more calls; the others serve every call (all succeed)`, async (t) => {
    const { pods, client } = await balancedPods(t, 3, config);
    await untilAllServed(client, pods);
    const rpcsBefore = pods[0]!.stats.rpcs;
    await pods[0]!.stop();
    const served = new Set<string>();
    for (let i = 0; i < 30; i++) served.add(await callPod(client));
    assert.equal(pods[0]!.stats.rpcs, rpcsBefore);
    assert.ok(!served.has("pod-1"), [...served].join(","));
    // One call at a time leaves least_request nothing but its random tie-break: both pods
    // serve. peak_ewma may rightly keep to the pod it measured faster.
    if (name === "least_request") assert.deepEqual(served, new Set(["pod-2", "pod-3"]));
  });

  test(`${name}: with every pod stopped, calls fail with UNAVAILABLE naming the policy`, async (t) => {
    const { pods, client } = await balancedPods(t, 2, config);
    await untilAllServed(client, pods);
    for (const p of pods) await p.stop();
    // Calls made while the endpoints reconnect queue until both have failed to connect;
    // then the channel is TRANSIENT_FAILURE and they fail.
    const result = await callUnary(client, Buffer.from("ping"));
    assert.equal(result.code, grpc.status.UNAVAILABLE);
    assert.match(result.details, new RegExp(`${name}: no connection established; last error: .+`));
  });
}
