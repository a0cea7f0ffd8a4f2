import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../../src/config/duration.js";

// parseDuration accepts Istio's duration syntax.
for (const [text, ms] of [
  ["1h", 3_600_000],
  ["30m", 1_800_000],
  ["10s", 10_000],
  ["500ms", 500],
  ["1.5s", 1500],
  ["1h30m", 5_400_000],
  ["1ms", 1],
  ["1000us", 1],
] as const) {
  test(`parseDuration("${text}") is ${ms} ms`, () => {
    assert.deepEqual(parseDuration(text), { ok: true, ms }, text);
  });
}

// parseDuration rejects durations without a unit, with unknown units, below 1ms or negative.
for (const [text, reason] of [
  ["10", /must be a duration like/],
  ["1x", /must be a duration like/],
  ["0.5ms", /must be >= 1ms/],
  ["0s", /must be >= 1ms/],
  ["-1s", /must be >= 1ms/],
  ["", /must be a duration like/],
  ["s", /must be a duration like/],
  ["1 s", /must be a duration like/],
] as const) {
  test(`parseDuration("${text}") is rejected: ${reason.source}`, () => {
    const r = parseDuration(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.reason, reason, text);
  });
}

test("formatDuration picks the largest whole unit", () => {
  assert.equal(formatDuration(3_600_000), "1h");
  assert.equal(formatDuration(300_000), "5m");
  assert.equal(formatDuration(20_000), "20s");
  assert.equal(formatDuration(1500), "1500ms");
});
