// The latency histogram behind the latency outlier rule: bounded, and accurate to a bucket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LatencyHistogram } from "../../src/resilience/latency-histogram.js";

test("a quantile is the upper bound of its bucket: never under, at most ~9% over", () => {
  for (const ms of [0.05, 0.3, 1, 7.5, 42, 999, 60_000]) {
    const h = new LatencyHistogram();
    for (let i = 0; i < 10; i++) h.record(ms);
    const p = h.quantile(0.99);
    assert.ok(p >= ms && p <= ms * 2 ** (1 / 8) + 1e-9, `${ms} ms -> ${p}`);
  }
});

test("p99 of 100 samples is the 99th smallest; nothing recorded is NaN; reset empties it", () => {
  const h = new LatencyHistogram();
  assert.ok(Number.isNaN(h.quantile(0.99)));
  for (let i = 1; i <= 100; i++) h.record(i);
  assert.ok(h.quantile(0.99) >= 99 && h.quantile(0.99) <= 99 * 2 ** (1 / 8));
  assert.ok(h.quantile(0.5) >= 50 && h.quantile(0.5) <= 50 * 2 ** (1 / 8));
  assert.equal(h.count, 100);
  h.reset();
  assert.equal(h.count, 0);
  assert.ok(Number.isNaN(h.quantile(0.99)));
});

test("zero, negative and huge durations land in the end buckets", () => {
  const h = new LatencyHistogram();
  h.record(0);
  h.record(-1);
  assert.ok(h.quantile(1) <= 0.0011);
  h.record(1e12);
  assert.ok(h.quantile(1) > 4e6);
});
