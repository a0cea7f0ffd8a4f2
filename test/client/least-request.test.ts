// least_request through grpc-js: a pod that holds its calls keeps them in flight, so the
// policy (counting in-flight calls per endpoint in onCallStarted/onCallEnded) stops sending
// it new ones; round_robin, the control, keeps feeding it.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { register } from "../../src/client/register.js";
import type { Pod } from "../support/cluster.js";
import { echo, hang } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { balancedPods, startCall } from "./support.js";

register();

/** Resolves with the name of the next pod to begin an RPC. */
function nextBegin(pods: readonly Pod[]): Promise<string> {
  return new Promise((resolve) => {
    const listeners = pods.map((p) => {
      const fn = (): void => {
        pods.forEach((q, i) => q.stats.events.off("begin", listeners[i]!));
        resolve(p.stats.name);
      };
      p.stats.events.on("begin", fn);
      return fn;
    });
  });
}

/**
 * Starts `n` calls one at a time: a call served by pod-2 is awaited to its end before the
 * next starts; a call that pod-1 holds stays in flight. Returns the held calls.
 */
type Call = ReturnType<typeof startCall>;

/** Every call started, so a failing test can still cancel the held ones and stop its pods. */
const started = new Set<Call>();

async function sequentialCalls(client: grpc.Client, pods: readonly Pod[], n: number): Promise<Call[]> {
  const held: Call[] = [];
  for (let i = 0; i < n; i++) {
    const began = nextBegin(pods);
    const call = startCall(client);
    started.add(call);
    const pod = await began;
    if (pod === "pod-1") held.push(call);
    else assert.equal(await call.done, grpc.status.OK);
  }
  return held;
}

async function release(held: readonly Call[]): Promise<void> {
  for (const h of held) h.cancel();
  for (const h of held) assert.equal(await h.done, grpc.status.CANCELLED);
}

/** Cancels whatever is still in flight (after a failed assertion), so that the pods can stop. */
async function cancelStarted(): Promise<void> {
  for (const c of started) c.cancel();
  await Promise.all([...started].map((c) => c.done));
  started.clear();
}

test("least_request sends no new calls to a pod holding one in flight, and uses it again once the call ends", async (t) => {
  const { pods, client } = await balancedPods(t, [hang, echo], { least_request: { choiceCount: 2 } }); // pod-1 holds every call until cancelled
  defer(t, cancelStarted);
  // Ties between idle pods go either way, so pod-1 gets the first call only by chance;
  // once it holds one, pod-2 (idle again after each call) always wins.
  const held = await sequentialCalls(client, pods, 20);
  assert.equal(held.length, 1, `pod-1 got ${held.length} of 20 calls while holding`);
  await release(held);
  // The cancelled call ended, so pod-1 counts as idle again and eventually gets one.
  const again = await sequentialCalls(client, pods, 20);
  assert.equal(again.length, 1, `after release pod-1 got ${again.length} of 20 calls`);
  await release(again);
});

test("round_robin (grpc-js's own, unchanged by register()) keeps sending calls to the pod holding them", async (t) => {
  const { pods, client } = await balancedPods(t, [hang, echo], { round_robin: {} });
  defer(t, cancelStarted);
  const held = await sequentialCalls(client, pods, 20);
  assert.ok(held.length >= 5, `round_robin gave pod-1 only ${held.length} of 20 calls`);
  await release(held);
});
