// The proof for `--weights-from-load` with the official proxyless client: a
// @grpc/grpc-js-xds channel to xds:///echo reports its load over LRS to sluice's control
// plane; one of three backends answers twice as slowly; the learned weights, pushed in EDS,
// give it about half the calls of each fast one (grpc-js-xds-unweighted.test.ts: without the
// option, an equal share). Runs in its own process: grpc-js-xds's bootstrap is global.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { WeightsEvent } from "../../src/xds-server/ads-server.js";
import { xdsClusterName } from "../../src/xds-server/to-xds.js";
import { TYPE_URL } from "../../src/xds-proto/protos.js";
import { thirdPodShare, xdsEchoUnderLoad } from "../support/xds-load.js";

const CLUSTER = xdsClusterName({ host: "echo", port: 50051, subset: null });

const { pods, ads, load } = await xdsEchoUnderLoad([40, 40, 80], { weightsFromLoad: { intervalMs: 200 } }, "sluice-lrs-test");
const key = (i: number): string => `127.0.0.1:${pods[i]?.port}`;

/** The slow endpoint's weight as a fraction of the fast ones' mean, once the fast ones agree within 20%; else null. */
function slowWeight(e: WeightsEvent): number | null {
  const w = e.weights[CLUSTER] ?? {};
  const [a, b, slow] = [w[key(0)] ?? 0, w[key(1)] ?? 0, w[key(2)] ?? 0];
  return Math.min(a, b) >= 0.8 * Math.max(a, b) ? slow / ((a + b) / 2) : null;
}

test("with weights from load the backend twice as slow gets about half the calls of each fast one", async () => {
  const started = performance.now();
  const signal = AbortSignal.timeout(10_000);
  const event = await new Promise<WeightsEvent>((resolve, reject) => {
    signal.addEventListener("abort", () => reject(new Error("no weights event with the slow endpoint at about half")));
    const onWeights = (e: WeightsEvent): void => {
      const ratio = slowWeight(e);
      if (ratio === null || ratio < 0.35 || ratio > 0.75) return;
      ads.off("weights", onWeights);
      resolve(e);
    };
    ads.on("weights", onWeights);
  });
  process.stdout.write(`# weights after ${Math.round(performance.now() - started)} ms: ${JSON.stringify(event.weights)}\n`);
  // The client follows the pushed assignment once it ACKs it (this version or a later one).
  await new Promise<void>((resolve) => {
    const applied = (): boolean =>
      ads.streamStates().some((s) => s.t === "open" && Number(s.types.get(TYPE_URL.endpoint)?.accepted ?? 0) >= Number(event.version));
    const onAck = (): void => {
      if (!applied()) return;
      ads.off("ack", onAck);
      resolve();
    };
    ads.on("ack", onAck);
    onAck();
  });
  const counts = await load.sample(400);
  const share = thirdPodShare(counts);
  process.stdout.write(`# latency ${JSON.stringify([...load.latency].map(([p, t]) => [p, t / (counts.get(p) ?? 1)]))}\n`);
  process.stdout.write(`# weighted ${JSON.stringify([...counts])} slow/fast=${share.toFixed(2)}\n`);
  assert.ok(share > 0.3 && share < 0.75, `weighted share ${share.toFixed(2)}: ${JSON.stringify([...counts])}`);
});
