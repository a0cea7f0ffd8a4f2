// The teardown every harness uses: cleanups run last-in first-out, all of them even when one
// throws, at the end of the test that deferred them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { defer, once, Teardown } from "./teardown.js";

test("cleanups run in reverse order, all of them past a failing one; the failure is thrown after", async () => {
  const ran: string[] = [];
  const stack = new Teardown();
  stack.defer(() => ran.push("pods"));
  stack.defer(() => {
    ran.push("proxy");
    throw new Error("proxy would not stop");
  });
  stack.defer(async () => {
    await Promise.resolve();
    ran.push("client");
  });
  await assert.rejects(stack.run(), /proxy would not stop/);
  assert.deepEqual(ran, ["client", "proxy", "pods"]);
  await stack.run(); // nothing left
  assert.deepEqual(ran, ["client", "proxy", "pods"]);
});

test("two failures are reported together", async () => {
  const stack = new Teardown();
  stack.defer(() => {
    throw new Error("a");
  });
  stack.defer(() => {
    throw new Error("b");
  });
  await assert.rejects(stack.run(), (e: unknown) => e instanceof AggregateError && e.errors.length === 2);
});

const order: string[] = [];
test("a test's deferred cleanups run when it ends, last first", (t) => {
  defer(t, () => order.push("first deferred"));
  defer(t, () => order.push("second deferred"));
  assert.deepEqual(order, []);
});
test("(the test before ended with its cleanups run)", () => {
  assert.deepEqual(order, ["second deferred", "first deferred"]);
});

test("once: a stop called early does nothing at teardown", async () => {
  let stops = 0;
  const stop = once(async () => {
    stops++;
    await Promise.resolve();
  });
  await Promise.all([stop(), stop()]);
  await stop();
  assert.equal(stops, 1);
});
