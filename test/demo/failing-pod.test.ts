// The demo's failing pod (--failing-pods): echoes normally, then answers UNAVAILABLE to every call.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { failingPodOptions } from "../../src/demo/failing-pod.js";
import { clientFor } from "../support/calls.js";
import { defer } from "../support/teardown.js";

test("a failing pod serves for its first afterMs, then answers UNAVAILABLE to every call (still counted as its RPCs)", async (t) => {
  let now = 1_000_000;
  const pod = await startEchoServer(
    "pod-3",
    "127.0.0.1",
    0,
    failingPodOptions(5000, () => now),
  );
  defer(t, () => pod.stop());
  const client = clientFor(t, `127.0.0.1:${pod.port}`);
  const payload = Buffer.from("ping");
  const before = await callUnary(client, payload);
  assert.equal(before.code, grpc.status.OK);
  assert.deepEqual(before.response, payload);
  now += 4999;
  assert.equal((await callUnary(client, payload)).code, grpc.status.OK);
  now += 1;
  for (let i = 0; i < 3; i++) {
    const r = await callUnary(client, payload);
    assert.equal(r.code, grpc.status.UNAVAILABLE);
    assert.match(r.details, /failing on purpose/);
  }
  assert.equal(pod.stats.rpcs, 5);
});
