import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.js";
import { seededRandom } from "../../src/core/random.js";

test("ManualClock fires timers in time order and only when advanced past them", () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  clock.setTimer(20, () => fired.push("b"));
  clock.setTimer(10, () => {
    fired.push("a");
    clock.setTimer(5, () => fired.push("a2"));
  });
  const c = clock.setTimer(12, () => fired.push("cancelled"));
  c.cancel();
  clock.advance(9);
  assert.deepEqual(fired, []);
  clock.advance(11);
  assert.deepEqual(fired, ["a", "a2", "b"]);
  assert.equal(clock.now(), 20);
});

test("seededRandom is deterministic and in [0,1)", () => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  for (let i = 0; i < 1000; i++) {
    const x = a();
    assert.equal(x, b());
    assert.ok(x >= 0 && x < 1);
  }
});

test("systemClock: a delay past setTimeout's range is chained, not fired after 1 ms", async () => {
  const { systemClock, MAX_TIMER_MS } = await import("../../src/core/clock.js");
  let fired = false;
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on("warning", onWarning);
  const handle = systemClock.setTimer(MAX_TIMER_MS * 2, () => (fired = true));
  // Node would run an over-long timer after 1 ms (with a TimeoutOverflowWarning): well past that.
  await new Promise((resolve) => setTimeout(resolve, 50));
  handle.cancel();
  process.off("warning", onWarning);
  assert.equal(fired, false);
  assert.deepEqual(warnings, []);
});
