import { test } from "node:test";
import assert from "node:assert/strict";
import { SimClock } from "../../src/sim/sim-clock.js";

test("timers fire in time order, ties in the order they were set, each at its own time", () => {
  const clock = new SimClock();
  const fired: string[] = [];
  const at = (label: string) => () => fired.push(`${label}@${clock.now()}`);
  clock.setTimer(30, at("c"));
  clock.setTimer(10, at("a"));
  clock.setTimer(30, at("d"));
  clock.setTimer(20, at("b"));
  clock.setTimer(0, at("z"));
  clock.run(100);
  assert.deepEqual(fired, ["z@0", "a@10", "b@20", "c@30", "d@30"]);
  assert.equal(clock.now(), 100);
  assert.equal(clock.fired, 5);
});

test("run(until) stops at until; timers set while running that are due in time fire in the same run", () => {
  const clock = new SimClock();
  const fired: number[] = [];
  const tick = (): void => {
    fired.push(clock.now());
    clock.setTimer(25, tick);
  };
  clock.setTimer(25, tick);
  clock.run(60);
  assert.deepEqual(fired, [25, 50]);
  assert.equal(clock.now(), 60);
  clock.run(100);
  assert.deepEqual(fired, [25, 50, 75, 100]);
});

test("a cancelled timer never fires; cancelling twice or after it fired is harmless", () => {
  const clock = new SimClock();
  let n = 0;
  const t = clock.setTimer(5, () => n++);
  const u = clock.setTimer(6, () => n++);
  t.cancel();
  t.cancel();
  clock.run(10);
  u.cancel();
  assert.equal(n, 1);
  assert.equal(clock.pending, 0);
});

test("many timers at random times come out sorted (the heap)", () => {
  const clock = new SimClock();
  const out: number[] = [];
  let x = 12345;
  for (let i = 0; i < 5000; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    clock.setTimer(x % 1000, () => out.push(clock.now()));
  }
  clock.run(1000);
  assert.equal(out.length, 5000);
  for (let i = 1; i < out.length; i++) assert.ok(out[i - 1]! <= out[i]!, `out of order at ${i}`);
});

test("many cancelled timers are dropped from the heap; the live ones still fire in order", () => {
  const clock = new SimClock();
  const fired: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const t = clock.setTimer(1000 + i, () => fired.push(i));
    if (i % 10 !== 0) t.cancel();
  }
  assert.ok(clock.pending < 20_000 / 2, `heap still holds ${clock.pending}`);
  clock.run(30_000);
  assert.equal(fired.length, 2000);
  assert.deepEqual(fired.slice(0, 3), [0, 10, 20]);
  for (let i = 1; i < fired.length; i++) assert.ok(fired[i - 1]! < fired[i]!);
});
