// A control plane without `--weights-from-load` (the baseline for
// grpc-js-xds-load-weights.test.ts): the same backends (one twice as slow) and the same
// steady load through a @grpc/grpc-js-xds channel; no load reports, and the slow backend gets
// an equal share. Its own process: grpc-js-xds's bootstrap is global.
import { test } from "node:test";
import assert from "node:assert/strict";
import { thirdPodShare, xdsEchoUnderLoad } from "../support/xds-load.js";

const { load } = await xdsEchoUnderLoad([40, 40, 80], {}, "sluice-lrs-off-test");

test("without weights from load the backend twice as slow gets as many calls as each fast one", async () => {
  const counts = await load.sample(400);
  const share = thirdPodShare(counts);
  process.stdout.write(`# unweighted ${JSON.stringify([...counts])} slow/fast=${share.toFixed(2)}\n`);
  assert.ok(share > 0.8 && share < 1.25, `unweighted share ${share.toFixed(2)}: ${JSON.stringify([...counts])}`);
});
