import { test } from "node:test";
import assert from "node:assert/strict";
import { roundRobinPolicy } from "../../src/balancer/round-robin.js";
import { Status } from "../../src/core/status.js";
import { assertShares, makeDeps, makeRequest, makeEndpoints, normalize, pickKey, shares } from "./fixtures.js";

test("round robin over zero endpoints fails with no healthy upstream", () => {
  const result = roundRobinPolicy(makeDeps(1))([]).pick(makeRequest());
  assert.deepEqual(result, { kind: "fail", status: Status.UNAVAILABLE, message: "no healthy upstream" });
});

test("round robin with equal weights rotates in order from a random start", () => {
  const endpoints = makeEndpoints([1, 1, 1]);
  const keys = endpoints.map((e) => e.key);
  const starts = new Set<string>();
  for (let seed = 1; seed <= 30; seed++) {
    const picker = roundRobinPolicy(makeDeps(seed))(endpoints);
    const sequence = Array.from({ length: 9 }, () => pickKey(picker));
    const start = keys.indexOf(sequence[0]!);
    const expected = Array.from({ length: 9 }, (_, i) => keys[(start + i) % 3]);
    assert.deepEqual(sequence, expected, `seed ${seed}`);
    starts.add(sequence[0]!);
  }
  // Without the random offset every picker would start at the first endpoint.
  assert.equal(starts.size, 3);
});

test("round robin returns the same immutable result object for an endpoint", () => {
  const picker = roundRobinPolicy(makeDeps(1))(makeEndpoints([1, 1]));
  const a = picker.pick(makeRequest());
  picker.pick(makeRequest());
  assert.equal(picker.pick(makeRequest()), a);
  assert.ok(Object.isFrozen(a));
});

const distribution: ReadonlyArray<{ weights: number[]; tolerance: number }> = [
  { weights: [1, 1, 1, 1], tolerance: 0.0005 },
  { weights: [1, 2, 3, 4], tolerance: 0.0005 },
  { weights: [5, 1], tolerance: 0.0005 },
  { weights: [1, 1, 8], tolerance: 0.0005 },
  { weights: [100, 1, 1], tolerance: 0.0005 },
];

for (const { weights, tolerance } of distribution) {
  test(`round robin shares follow weights ${weights.join(":")}`, () => {
    const endpoints = makeEndpoints(weights);
    const picker = roundRobinPolicy(makeDeps(7))(endpoints);
    assertShares(shares(picker, endpoints, 30_000), normalize(weights), tolerance, `weights ${weights.join(":")}`);
  });
}

test("weighted round robin interleaves endpoints instead of sending bursts", () => {
  // Weights 2:2:1: a bursty weighted round robin sends a,a,b,b,c; the EDF schedule
  // alternates a and b, so no endpoint is ever picked twice in a row.
  for (let seed = 1; seed <= 10; seed++) {
    const picker = roundRobinPolicy(makeDeps(seed))(makeEndpoints([2, 2, 1]));
    let previous = "";
    for (let i = 0; i < 500; i++) {
      const key = pickKey(picker);
      assert.notEqual(key, previous, `seed ${seed}: ${key} twice in a row at pick ${i}`);
      previous = key;
    }
  }
});

test("weighted round robin keeps exact proportions over short windows", () => {
  const weights = [4, 1, 1];
  const endpoints = makeEndpoints(weights);
  const keys = endpoints.map((e) => e.key);
  const picker = roundRobinPolicy(makeDeps(3))(endpoints);
  const sequence = Array.from({ length: 600 }, () => keys.indexOf(pickKey(picker)));
  const window = 60; // 10 x the weight sum: random choice would stray far more than 2
  for (let start = 0; start + window <= sequence.length; start++) {
    const counts = [0, 0, 0];
    for (let i = start; i < start + window; i++) counts[sequence[i]!]!++;
    weights.forEach((w, e) => assert.ok(Math.abs(counts[e]! - w * 10) <= 2, `window at ${start}: ${counts.join(",")}`));
  }
});

test("weighted round robin starts at different points for different seeds", () => {
  const endpoints = makeEndpoints([3, 2, 1]);
  const openings = new Set<string>();
  for (let seed = 1; seed <= 20; seed++) {
    const picker = roundRobinPolicy(makeDeps(seed))(endpoints);
    openings.add([pickKey(picker), pickKey(picker), pickKey(picker)].join(" "));
  }
  assert.ok(openings.size >= 2, `only ${[...openings].join(" | ")}`);
});
