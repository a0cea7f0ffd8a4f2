// A control plane without `--weights-from-load` (the baseline for
// grpc-js-xds-load-weights.test.ts): the same backends (one twice as slow) and the same
// steady load through a @grpc/grpc-js-xds channel; no load reports, and the slow backend gets
// an equal share. Its own process: grpc-js-xds's bootstrap is global.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as xds from "@grpc/grpc-js-xds";
import { AdsServer } from "../../src/xds-server/ads-server.js";
import { echoClient } from "../../src/demo/echo-client.js";
import { parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { bootstrapGrpcJsXds } from "../support/ads.js";
import { SteadyLoad, startTimedPods, thirdPodShare } from "../support/xds-load.js";

const pods = await startTimedPods([40, 40, 80]);
const ads = new AdsServer(
  parseConfig(
    serviceEntryYaml(
      "echo",
      pods.map((p) => p.port),
    ),
  ),
);
bootstrapGrpcJsXds(await ads.start("127.0.0.1", 0), "sluice-lrs-off-test");
xds.register();
const client = echoClient("xds:///echo");
const load = new SteadyLoad(client, 12);

after(async () => {
  await load.stop();
  client.close();
  await ads.stop();
  for (const p of pods) await p.stop();
});

test("without weights from load the backend twice as slow gets as many calls as each fast one", async () => {
  const counts = await load.sample(400);
  const share = thirdPodShare(counts);
  process.stdout.write(`# unweighted ${JSON.stringify([...counts])} slow/fast=${share.toFixed(2)}\n`);
  assert.ok(share > 0.8 && share < 1.25, `unweighted share ${share.toFixed(2)}: ${JSON.stringify([...counts])}`);
});
