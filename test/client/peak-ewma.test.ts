// peak_ewma through grpc-js: a pod that answers 40 ms late is seen as slow on its first
// answer and then gets few calls; round_robin, the control, gives it a third.
//
// The policy runs on a manual clock that only the pods move: each pod's script advances it
// by its service time as a call arrives, between grpc-js's onCallStarted and onCallEnded.
// The latencies peak_ewma measures are then exactly 40 ms and 2 ms, whatever the machine's
// load (on the wall clock, a fast pod preempted for 50 ms looks slower than the slow one and
// keeps that peak for seconds). What runs is the real policy behind grpc-js's real picks
// and call feedback: only the clock is the test's.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { formatDuration } from "../../src/config/duration.js";
import { ManualClock } from "../../src/core/clock.js";
import { clientPolicyDeps, EndpointBalancer } from "../../src/client/endpoint-balancer.js";
import { PeakEwmaConfig } from "../../src/client/peak-ewma.js";
import { register } from "../../src/client/register.js";
import type { Script } from "../support/scripted-pods.js";
import { balancedPods, callPod, count, untilAllServed } from "./support.js";

register();

const SLOW_MS = 40;
const FAST_MS = 2;
const CALLS = 60;

/** peak_ewma on `clock`, under a name of its own (grpc-js's registry is per process). */
const PEAK_EWMA_ON_CLOCK = "peak_ewma_on_test_clock";
const clock = new ManualClock();

class PeakEwmaOnClockConfig extends PeakEwmaConfig {
  override getLoadBalancerName(): string {
    return PEAK_EWMA_ON_CLOCK;
  }

  override toJsonObject(): object {
    return { [PEAK_EWMA_ON_CLOCK]: { decay: formatDuration(this.decayMs), defaultRtt: formatDuration(this.defaultRttMs) } };
  }

  static override createFromJson(json: unknown): PeakEwmaOnClockConfig {
    const c = PeakEwmaConfig.createFromJson(json);
    return new PeakEwmaOnClockConfig(c.decayMs, c.defaultRttMs);
  }
}

grpc.experimental.registerLoadBalancerType(
  PEAK_EWMA_ON_CLOCK,
  class extends EndpointBalancer {
    constructor(helper: grpc.experimental.ChannelControlHelper) {
      super(helper, PEAK_EWMA_ON_CLOCK, { ...clientPolicyDeps, clock });
    }
  },
  PeakEwmaOnClockConfig,
);

/** A pod that takes `ms` of the test clock to answer. */
function takes(ms: number): Script {
  return (call) => {
    clock.advance(ms);
    call.echo();
  };
}

async function slowShare(t: TestContext, lbConfig: object): Promise<{ share: number; slowCalls: number }> {
  // Every pod answers in no time until each has served a call: all three are then READY
  // (a channel is READY with its first endpoint) and their estimates still equal.
  const { pods, client } = await balancedPods(t, [takes(0), takes(0), takes(0)], lbConfig);
  await untilAllServed(client, pods);
  pods[0]!.script = takes(SLOW_MS);
  pods[1]!.script = takes(FAST_MS);
  pods[2]!.script = takes(FAST_MS);
  // Sequential calls: no pod ever has a call in flight at a pick, so only latency tells them apart.
  const served: string[] = [];
  for (let i = 0; i < CALLS; i++) served.push(await callPod(client));
  const slowCalls = count(served, "pod-1");
  t.diagnostic(`slow pod served ${slowCalls} of ${CALLS} calls`);
  return { share: slowCalls / CALLS, slowCalls };
}

test("peak_ewma sends few calls to a slow pod", async (t) => {
  // The slow pod's estimate jumps to 40 ms on its first answer and decays with a 10 s time
  // constant; the calls here take ~0.2 s of the clock, so it loses every comparison after
  // that answer, against fast pods that never rise above their 30 ms start.
  const { share } = await slowShare(t, { [PEAK_EWMA_ON_CLOCK]: {} });
  assert.ok(share <= 0.1, `slow pod got ${(share * 100).toFixed(0)}% of calls under peak_ewma (round robin gives it 33%)`);
});

test("round_robin gives the slow pod its third (the control)", async (t) => {
  const { share } = await slowShare(t, { round_robin: {} });
  assert.ok(share >= 0.3, `slow pod got ${(share * 100).toFixed(0)}% under round_robin`);
});
