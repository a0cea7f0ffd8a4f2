// The scripted pods' own contract, straight from a grpc-js client: echo by default, a failure
// trailers-only or after headers, a held call answered when the test says, calls counted as
// they arrive.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { clientFor } from "./calls.js";
import { fail, scriptedPods, type Arrival } from "./scripted-pods.js";

test("a pod echoes by default; fail() answers trailers only, or after headers when asked; the script can change", async (t) => {
  const [pod] = await scriptedPods(t, 1);
  const client = clientFor(t, `127.0.0.1:${pod!.port}`);
  const ok = await callUnary(client, Buffer.from("hi"));
  assert.equal(ok.code, grpc.status.OK);
  assert.deepEqual(ok.response, Buffer.from("hi"));
  assert.deepEqual(ok.headers?.get("x-pod"), ["pod-1"]);

  pod!.script = fail(grpc.status.UNAVAILABLE);
  const early = await callUnary(client, Buffer.from("x"));
  assert.deepEqual([early.code, early.details], [grpc.status.UNAVAILABLE, "scripted UNAVAILABLE"]);
  assert.deepEqual(early.headers?.get("x-pod") ?? [], [], "trailers only: no response headers");

  pod!.script = (call) => call.fail(grpc.status.INTERNAL, "late", { afterHeaders: true });
  const late = await callUnary(client, Buffer.from("x"));
  assert.deepEqual([late.code, late.details], [grpc.status.INTERNAL, "late"]);
  assert.deepEqual(late.headers?.get("x-pod"), ["pod-1"]);
  assert.equal(pod!.calls, 3);
  assert.equal(pod!.stats.rpcs, 3, "the echo service answered all three");
});

test("a held call waits until the test answers it; arrived() counts calls as they come", async (t) => {
  const held: Arrival[] = [];
  const [pod] = await scriptedPods(t, [(call) => held.push(call)]);
  const client = clientFor(t, `127.0.0.1:${pod!.port}`);
  const call = callUnary(client, Buffer.from("wait"));
  await pod!.arrived(1);
  assert.equal(held.length, 1);
  assert.equal(held[0]!.n, 1);
  assert.equal(held[0]!.method, "/sluice.demo.Echo/Unary");
  assert.equal(pod!.stats.rpcs, 0, "not begun by the echo service yet");
  held[0]!.echo();
  const r = await call;
  assert.equal(r.code, grpc.status.OK);
  assert.deepEqual(r.response, Buffer.from("wait"));
});
