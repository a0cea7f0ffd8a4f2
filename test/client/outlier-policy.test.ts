// sluice_outlier with real grpc-js servers and clients on loopback, wrapping grpc-js's own
// round_robin and pick_first; ejection times run on a ManualClock passed as a channel option.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ManualClock } from "../../src/core/clock.js";
import { Status } from "../../src/core/status.js";
import { registerSluiceOutlier, SLUICE_CLOCK_OPTION, SLUICE_OUTLIER_POLICY } from "../../src/client/outlier-policy.js";
import { echo, hang, scriptedPods } from "../support/scripted-pods.js";
import { callTimes, cancelledCall, failing, ipv4Target, policyClient, rpcs, warmUp } from "./support.js";

registerSluiceOutlier();
registerSluiceOutlier(); // idempotent

function outlier(fields: Record<string, unknown>, child: object = { round_robin: {} }): object {
  return { [SLUICE_OUTLIER_POLICY]: { interval: "10s", baseEjectionTime: "30s", ...fields, childPolicy: [child] } };
}

describe("sluice_outlier over round_robin", () => {
  test("a pod failing UNAVAILABLE is ejected at its 5th consecutive failure, gets nothing while ejected, and is readmitted after baseEjectionTime", async (t) => {
    const pods = await scriptedPods(t, 3);
    const clock = new ManualClock();
    // Istio's defaults otherwise: maxEjectionPercent 10 still ejects one host of three.
    const client = policyClient(t, ipv4Target(pods), outlier({}), { [SLUICE_CLOCK_OPTION]: clock });
    await warmUp(client, pods);
    pods[2]!.script = failing;
    const base = rpcs(pods);
    // round_robin over three READY pods: every third call lands on pod-3.
    const results = await callTimes(client, 15);
    assert.equal(results.filter((r) => r.code === Status.UNAVAILABLE).length, 5);
    assert.equal(pods[2]!.stats.rpcs - base[2]!, 5);

    const whileEjected = rpcs(pods);
    const more = await callTimes(client, 30);
    assert.ok(
      more.every((r) => r.code === Status.OK),
      "every call avoided the ejected pod",
    );
    assert.equal(pods[2]!.stats.rpcs, whileEjected[2], "the ejected pod got nothing");
    assert.equal(pods[0]!.stats.rpcs - whileEjected[0]!, 15);

    // Still ejected just before the 30 s ejection ends (readmission happens on an interval tick).
    pods[2]!.script = echo;
    clock.advance(29_999);
    await callTimes(client, 6);
    assert.equal(pods[2]!.stats.rpcs, whileEjected[2]);
    clock.advance(1);
    const after = rpcs(pods);
    const back = await callTimes(client, 6);
    assert.ok(back.every((r) => r.code === Status.OK));
    assert.equal(pods[2]!.stats.rpcs - after[2]!, 2, "readmitted: pod-3 takes its third again");
  });

  // With two of three pods failing, 10% ejects one (at least one host), 100% both, 0 none.
  for (const c of [
    { maxEjectionPercent: 10, ejected: 1 },
    { maxEjectionPercent: 100, ejected: 2 },
    { maxEjectionPercent: 0, ejected: 0 },
  ]) {
    test(`maxEjectionPercent ${c.maxEjectionPercent}: with two of three pods failing, ${c.ejected} ejected`, async (t) => {
      const pods = await scriptedPods(t, 3);
      const client = policyClient(t, ipv4Target(pods), outlier({ maxEjectionPercent: c.maxEjectionPercent }), { [SLUICE_CLOCK_OPTION]: new ManualClock() });
      await warmUp(client, pods);
      pods[1]!.script = failing;
      pods[2]!.script = failing;
      const base = rpcs(pods);
      await callTimes(client, 30);
      // Each failing pod saw 5 failures within its first 15 calls; an ejected one stopped there.
      const served = [1, 2].map((i) => pods[i]!.stats.rpcs - base[i]!);
      const ejected = served.filter((n) => n === 5).length;
      assert.equal(ejected, c.ejected, `maxEjectionPercent ${c.maxEjectionPercent}: calls to the failing pods ${served.join(", ")}`);
    });
  }

  test("consecutiveGatewayErrors ejects on UNAVAILABLE (503) alone when 5xx counting is off", async (t) => {
    const pods = await scriptedPods(t, 3);
    const client = policyClient(t, ipv4Target(pods), outlier({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 3, maxEjectionPercent: 100 }), {
      [SLUICE_CLOCK_OPTION]: new ManualClock(),
    });
    await warmUp(client, pods);
    pods[0]!.script = failing;
    const base = rpcs(pods);
    await callTimes(client, 21);
    assert.equal(pods[0]!.stats.rpcs - base[0]!, 3);
  });

  test("a call the caller cancelled neither counts as a failure nor resets the count", async (t) => {
    const pods = await scriptedPods(t, 3);
    const client = policyClient(t, ipv4Target(pods), outlier({ maxEjectionPercent: 100 }), { [SLUICE_CLOCK_OPTION]: new ManualClock() });
    await warmUp(client, pods);
    pods[2]!.script = failing;
    await callTimes(client, 12); // pod-3: 4 failures
    for (let i = 0; i < 3; i++) assert.equal(await cancelledCall(client, pods), Status.CANCELLED); // one lands on pod-3
    await callTimes(client, 3); // pod-3: 5th failure
    const ejectedAt = rpcs(pods);
    await callTimes(client, 9);
    assert.equal(pods[2]!.stats.rpcs, ejectedAt[2], "ejected: the cancellation did not reset the count");
  });

  test("a pod that takes calls and never answers is ejected after 5 calls that ran out of deadline (Envoy counts its own timeouts as 504)", async (t) => {
    const pods = await scriptedPods(t, 3);
    const client = policyClient(t, ipv4Target(pods), outlier({}), { [SLUICE_CLOCK_OPTION]: new ManualClock() });
    await warmUp(client, pods);
    pods[1]!.script = hang;
    const base = rpcs(pods);
    const results: number[] = [];
    for (let i = 0; i < 15; i++) results.push((await callTimes(client, 1, undefined, { deadline: Date.now() + 250 }))[0]!.code);
    assert.equal(results.filter((c) => c === Status.DEADLINE_EXCEEDED).length, 5);
    const ejectedAt = rpcs(pods);
    assert.equal(ejectedAt[1]! - base[1]!, 5);
    const after = await callTimes(client, 9, undefined, { deadline: Date.now() + 5000 });
    assert.ok(after.every((r) => r.code === Status.OK));
    assert.equal(pods[1]!.stats.rpcs, ejectedAt[1]);
  });

  test("wraps pick_first too: its only pod is ejected, calls fail fast with UNAVAILABLE, readmitted later", async (t) => {
    const pods = await scriptedPods(t, 1);
    const clock = new ManualClock();
    const client = policyClient(t, ipv4Target(pods), outlier({ consecutive5xxErrors: 2 }, { pick_first: {} }), { [SLUICE_CLOCK_OPTION]: clock });
    await warmUp(client, pods);
    pods[0]!.script = failing;
    await callTimes(client, 2);
    const ejectedAt = pods[0]!.stats.rpcs;
    const r = await callTimes(client, 3);
    assert.ok(r.every((x) => x.code === Status.UNAVAILABLE));
    assert.equal(pods[0]!.stats.rpcs, ejectedAt, "no call reached the ejected pod");
    pods[0]!.script = echo;
    clock.advance(30_000);
    const back = await callTimes(client, 2);
    assert.deepEqual(
      back.map((x) => x.code),
      [Status.OK, Status.OK],
    );
  });

  test("the interval timer runs on the injected clock and stops when the channel closes", async (t) => {
    const pods = await scriptedPods(t, 2);
    const clock = new ManualClock();
    const client = policyClient(t, ipv4Target(pods), outlier({}), { [SLUICE_CLOCK_OPTION]: clock });
    await warmUp(client, pods);
    assert.equal(clock.pendingTimers(), 1);
    clock.advance(100_000);
    assert.equal(clock.pendingTimers(), 1);
    client.close();
    assert.equal(clock.pendingTimers(), 0);
  });
});

describe("sluice_outlier config", () => {
  const parse = (c: unknown): grpc.experimental.TypedLoadBalancingConfig =>
    grpc.experimental.parseLoadBalancingConfig({ [SLUICE_OUTLIER_POLICY]: c } as Parameters<typeof grpc.experimental.parseLoadBalancingConfig>[0]);

  test("defaults are Istio's, and toJsonObject parses back", () => {
    const c = parse({ childPolicy: [{ round_robin: {} }] });
    const json = c.toJsonObject();
    assert.deepEqual(json, {
      sluice_outlier: {
        consecutive5xxErrors: 5,
        consecutiveGatewayErrors: 0,
        interval: "10s",
        baseEjectionTime: "30s",
        maxEjectionPercent: 10,
        childPolicy: [{ round_robin: {} }],
      },
    });
    assert.deepEqual(parse((json as Record<string, unknown>)["sluice_outlier"]).toJsonObject(), json);
  });

  test("a bad config is rejected with every problem named", () => {
    assert.throws(
      () =>
        parse({
          consecutive5xxErrors: -1,
          interval: 10,
          baseEjectionTime: "30 seconds",
          maxEjectionPercent: 150,
          consecutiveErrors: 5,
          childPolicy: [{ no_such_policy: {} }],
        }),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        const m = e.message;
        assert.match(m, /^sluice_outlier: unknown field "consecutiveErrors" \(deprecated in Istio: use consecutiveGatewayErrors\); known fields: /);
        assert.match(m, /consecutive5xxErrors must be an integer in 0\.\.2147483647, got -1/);
        assert.match(m, /interval must be a duration string like "10s" or "30ms", got 10/);
        assert.match(m, /baseEjectionTime must be a duration like "10s"/);
        assert.match(m, /maxEjectionPercent must be an integer in 0\.\.100, got 150/);
        assert.match(m, /childPolicy has no usable policy: \[0\] Unrecognized load balancing config name no_such_policy/);
        return true;
      },
    );
    assert.throws(() => parse({}), /childPolicy is required/);
    assert.throws(() => parse("5"), /must be an object/);
  });
});
