import { test } from "node:test";
import assert from "node:assert/strict";
import { leastRequestPolicy } from "../../src/balancer/least-request.js";
import { Status } from "../../src/core/status.js";
import { assertShares, makeDeps, makeEndpoints, makeRequest, normalize, pickKey, shares } from "./fixtures.js";

const PICKS = 30_000;

test("least request over zero endpoints fails with no healthy upstream", () => {
  assert.deepEqual(leastRequestPolicy(makeDeps(1))([]).pick(makeRequest()), {
    kind: "fail",
    status: Status.UNAVAILABLE,
    message: "no healthy upstream",
  });
});

test("least request with one endpoint returns it without drawing randomness", () => {
  let draws = 0;
  const deps = { ...makeDeps(1), random: () => (draws++, 0.5) };
  const [only] = makeEndpoints([3], [50]);
  const picker = leastRequestPolicy(deps)([only!]);
  for (let i = 0; i < 10; i++) assert.equal(pickKey(picker), only!.key);
  assert.equal(draws, 0);
});

// Equal weights: power of N choices. Expected shares with N samples drawn with
// replacement from n endpoints ranked by load: P(best of sample is rank i).
const equalWeightTable: ReadonlyArray<{
  name: string;
  loads: number[];
  choiceCount: number;
  expected: number[];
  tolerance: number;
}> = [
  {
    // choiceCount >= endpoints: a full scan, so the loaded endpoint is never chosen
    // and the idle ones split the picks (ties broken at random).
    name: "full scan avoids the loaded endpoint entirely",
    loads: [10, 0, 0],
    choiceCount: 3,
    expected: [0, 0.5, 0.5],
    tolerance: 0.015,
  },
  {
    // P2C: endpoint 0 only wins when both samples hit it: 1/9.
    name: "P2C picks a heavily loaded endpoint only when both samples hit it",
    loads: [10, 0, 0],
    choiceCount: 2,
    expected: [1 / 9, 4 / 9, 4 / 9],
    tolerance: 0.015,
  },
  {
    // Ranked loads 0 < 1 < 2 < 3, two samples: P(rank i) = ((4-i)^2 - (3-i)^2) / 16.
    name: "P2C over ranked loads",
    loads: [0, 1, 2, 3],
    choiceCount: 2,
    expected: [7 / 16, 5 / 16, 3 / 16, 1 / 16],
    tolerance: 0.015,
  },
  {
    // One choice: load is never compared, picks are uniform.
    name: "choiceCount 1 is uniform random",
    loads: [10, 0, 0],
    choiceCount: 1,
    expected: [1 / 3, 1 / 3, 1 / 3],
    tolerance: 0.015,
  },
  {
    name: "equal loads spread evenly",
    loads: [5, 5, 5, 5],
    choiceCount: 2,
    expected: [0.25, 0.25, 0.25, 0.25],
    tolerance: 0.015,
  },
];

for (const row of equalWeightTable) {
  test(`least request, equal weights: ${row.name}`, () => {
    const endpoints = makeEndpoints(
      row.loads.map(() => 1),
      row.loads,
    );
    const picker = leastRequestPolicy(makeDeps(11, { choiceCount: row.choiceCount }))(endpoints);
    assertShares(shares(picker, endpoints, PICKS), row.expected, row.tolerance, row.name);
  });
}

test("least request reads the live counters, not a snapshot taken when the picker was built", () => {
  const endpoints = makeEndpoints([1, 1, 1]);
  const picker = leastRequestPolicy(makeDeps(5, { choiceCount: 3 }))(endpoints);
  endpoints[1]!.load.activeRequests = 4;
  endpoints[2]!.load.activeRequests = 4;
  for (let i = 0; i < 100; i++) assert.equal(pickKey(picker), endpoints[0]!.key);
  endpoints[0]!.load.activeRequests = 9;
  for (let i = 0; i < 100; i++) assert.notEqual(pickKey(picker), endpoints[0]!.key);
});

test("least request compares activeConnections when loadMetric says so (LEAST_CONN in connection mode)", () => {
  const endpoints = makeEndpoints([1, 1, 1]);
  // Busy with connections, idle in requests.
  endpoints[0]!.load.activeConnections = 10;
  const byConnections = leastRequestPolicy(makeDeps(2, { choiceCount: 3, loadMetric: "activeConnections" }))(endpoints);
  assertShares(shares(byConnections, endpoints, PICKS), [0, 0.5, 0.5], 0.015, "by connections");
  // The same endpoints by requests: all tie, so endpoint 0 gets its third.
  const byRequests = leastRequestPolicy(makeDeps(2, { choiceCount: 3, loadMetric: "activeRequests" }))(endpoints);
  assertShares(shares(byRequests, endpoints, PICKS), [1 / 3, 1 / 3, 1 / 3], 0.015, "by requests");
});

test("least request by connections (LEAST_CONN in connection mode) always takes the fewest, whatever choiceCount", () => {
  // With P2C the endpoint with no connections would get only 5/9 of the picks.
  const endpoints = makeEndpoints([1, 1, 1]);
  endpoints[0]!.load.activeConnections = 1;
  endpoints[1]!.load.activeConnections = 1;
  const picker = leastRequestPolicy(makeDeps(3, { choiceCount: 2, loadMetric: "activeConnections" }))(endpoints);
  for (let i = 0; i < 1000; i++) assert.equal(pickKey(picker), endpoints[2]!.key);
  // Ties among the fewest are still broken at random.
  endpoints[2]!.load.activeConnections = 1;
  endpoints[0]!.load.activeConnections = 0;
  endpoints[1]!.load.activeConnections = 0;
  assertShares(shares(picker, endpoints, PICKS), [0.5, 0.5, 0], 0.015, "ties");
});

// Unequal weights: weighted random over weight / (load + 1)^bias.
const weightedTable: ReadonlyArray<{ name: string; weights: number[]; loads: number[]; bias?: number; effective: number[] }> = [
  { name: "idle endpoints follow their weights", weights: [1, 2, 3], loads: [0, 0, 0], effective: [1, 2, 3] },
  { name: "load divides the weight", weights: [1, 2, 3], loads: [0, 0, 5], effective: [1, 2, 3 / 6] },
  { name: "heavy but busy vs light and idle", weights: [10, 1], loads: [9, 0], effective: [1, 1] },
  { name: "bias 0 ignores load", weights: [1, 2, 3], loads: [0, 0, 5], bias: 0, effective: [1, 2, 3] },
  { name: "bias 2 squares the load term", weights: [1, 2, 3], loads: [0, 1, 2], bias: 2, effective: [1, 2 / 4, 3 / 9] },
];

for (const row of weightedTable) {
  test(`least request, unequal weights: ${row.name}`, () => {
    const endpoints = makeEndpoints(row.weights, row.loads);
    const options = row.bias === undefined ? {} : { activeRequestBias: row.bias };
    const picker = leastRequestPolicy(makeDeps(13), options)(endpoints);
    assertShares(shares(picker, endpoints, PICKS), normalize(row.effective), 0.015, row.name);
  });
}

test("least request, unequal weights, uses the configured load metric", () => {
  const endpoints = makeEndpoints([1, 3]);
  endpoints[1]!.load.activeConnections = 5; // effective weight 3/6 = 0.5 by connections
  const picker = leastRequestPolicy(makeDeps(17, { loadMetric: "activeConnections" }))(endpoints);
  assertShares(shares(picker, endpoints, PICKS), normalize([1, 0.5]), 0.015, "by connections");
});

test("least request rejects a bad choiceCount or bias", () => {
  assert.throws(() => leastRequestPolicy(makeDeps(1, { choiceCount: 0 })), /choiceCount/);
  assert.throws(() => leastRequestPolicy(makeDeps(1), { activeRequestBias: -1 }), /activeRequestBias/);
});
