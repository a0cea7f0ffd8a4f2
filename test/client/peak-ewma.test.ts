// peak_ewma through grpc-js: a pod that answers 40 ms late is seen as slow on its first
// answer and then gets few calls; round_robin, the control, gives it a third.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { register } from "../../src/client/register.js";
import { echo, slow } from "../support/scripted-pods.js";
import { balancedPods, callPod, count } from "./support.js";

register();

const SLOW_MS = 40;
const CALLS = 60;

async function slowShare(t: TestContext, lbConfig: object): Promise<number> {
  const { client } = await balancedPods(t, [slow(SLOW_MS), echo, echo], lbConfig);
  const served: string[] = [];
  for (let i = 0; i < CALLS; i++) served.push(await callPod(client));
  return count(served, "pod-1") / CALLS;
}

test("peak_ewma sends few calls to a slow pod", async (t) => {
  // Sequential calls: no pod ever has a call in flight at a pick, so only latency tells them
  // apart. The slow pod's estimate jumps to ~40 ms on its first answer and decays (10 s
  // time constant) far slower than this test runs, so it only wins against... nothing.
  const share = await slowShare(t, { peak_ewma: {} });
  assert.ok(share <= 0.1, `slow pod got ${(share * 100).toFixed(0)}% of calls under peak_ewma`);
});

test("round_robin gives the slow pod its third (the control)", async (t) => {
  const share = await slowShare(t, { round_robin: {} });
  assert.ok(share >= 0.3, `slow pod got ${(share * 100).toFixed(0)}% under round_robin`);
});
