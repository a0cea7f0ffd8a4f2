import { test } from "node:test";
import assert from "node:assert/strict";
import { randomPolicy } from "../../src/balancer/random.js";
import { Status } from "../../src/core/status.js";
import { assertShares, makeDeps, makeEndpoints, makeRequest, normalize, shares } from "./fixtures.js";

test("random over zero endpoints fails with no healthy upstream", () => {
  assert.deepEqual(randomPolicy(makeDeps(1))([]).pick(makeRequest()), {
    kind: "fail",
    status: Status.UNAVAILABLE,
    message: "no healthy upstream",
  });
});

const table: ReadonlyArray<{ weights: number[]; tolerance: number }> = [
  { weights: [1], tolerance: 0 },
  { weights: [1, 1, 1, 1], tolerance: 0.012 },
  { weights: [1, 2, 3, 4], tolerance: 0.012 },
  { weights: [1, 9], tolerance: 0.012 },
  { weights: [50, 1, 1, 1, 1], tolerance: 0.012 },
];

for (const { weights, tolerance } of table) {
  test(`random shares follow weights ${weights.join(":")}`, () => {
    const endpoints = makeEndpoints(weights);
    const picker = randomPolicy(makeDeps(23))(endpoints);
    assertShares(shares(picker, endpoints, 30_000), normalize(weights), tolerance, weights.join(":"));
  });
}

test("random picks are not a rotation", () => {
  const endpoints = makeEndpoints([1, 1]);
  const picker = randomPolicy(makeDeps(29))(endpoints);
  let repeats = 0;
  let previous: unknown;
  for (let i = 0; i < 1000; i++) {
    const result = picker.pick(makeRequest());
    if (result === previous) repeats++;
    previous = result;
  }
  // Independent picks repeat about half the time; a rotation never does.
  assert.ok(repeats > 400 && repeats < 600, `repeats ${repeats}`);
});
