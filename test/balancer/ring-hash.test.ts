import { test } from "node:test";
import assert from "node:assert/strict";
import { buildRing, MAXIMUM_RING_SIZE, ringHashPolicy } from "../../src/balancer/ring-hash.js";
import { consistentHashCases } from "./consistent-hash-cases.js";
import { makeDeps, makeEndpoints } from "./fixtures.js";

// A ring of 16K entries keeps each endpoint's share within a few percent; the default
// 1024 is coarser (its own test below allows for that).
consistentHashCases("ring hash", (deps, key) => ringHashPolicy(deps, { key, minimumRingSize: 16384 }), {
  relativeTolerance: 0.05,
  // Envoy sizes the ring from the endpoint count, so when one of 5 goes the 4 survivors
  // each gain entries (16384/5 -> 16384/4), which take some keys from each other.
  extraMovement: 0.2,
  onlyRemovedKeysMove: false,
});

const sizes: ReadonlyArray<{ weights: number[]; minimum: number; entries: number[] }> = [
  // Equal weights: the minimum split evenly.
  { weights: [1, 1, 1, 1], minimum: 1024, entries: [256, 256, 256, 256] },
  // Entries follow weights; the lightest gets ceil(min share x minimum).
  { weights: [1, 3], minimum: 1024, entries: [256, 768] },
  { weights: [1, 2, 3, 4], minimum: 1024, entries: [103, 206, 309, 412] },
  // A very light endpoint grows the ring beyond the minimum so it still gets its share.
  { weights: [1, 999], minimum: 100, entries: [1, 999] },
  { weights: [1, 1], minimum: 3, entries: [2, 2] },
];

for (const row of sizes) {
  test(`ring hash gives weights ${row.weights.join(":")} with minimum ${row.minimum} entries ${row.entries.join(":")}`, () => {
    const ring = buildRing(makeEndpoints(row.weights), row.minimum, MAXIMUM_RING_SIZE);
    const counts = row.weights.map(() => 0);
    for (const owner of ring.owners) counts[owner]!++;
    assert.deepEqual(counts, row.entries);
    assert.ok(ring.hashes.length >= row.minimum);
    for (let i = 1; i < ring.hashes.length; i++) assert.ok(ring.hashes[i - 1]! <= ring.hashes[i]!, "ring is sorted");
  });
}

test("ring hash caps the ring at the maximum size however uneven the weights", () => {
  const ring = buildRing(makeEndpoints([1, 100_000]), 1024, 4096);
  assert.ok(ring.hashes.length <= 4096 + 1, `${ring.hashes.length}`);
});

test("ring hash with the default minimum size (1024) still spreads keys roughly evenly", () => {
  const endpoints = makeEndpoints([1, 1, 1, 1]);
  const ring = buildRing(endpoints, 1024, MAXIMUM_RING_SIZE);
  assert.equal(ring.hashes.length, 1024);
  // Share of the hash space each endpoint's arcs cover.
  const covered = [0, 0, 0, 0];
  for (let i = 0; i < ring.hashes.length; i++) {
    const prev = i === 0 ? ring.hashes[ring.hashes.length - 1]! - 2 ** 32 : ring.hashes[i - 1]!;
    covered[ring.owners[i]!]! += (ring.hashes[i]! - prev) / 2 ** 32;
  }
  for (const c of covered) assert.ok(Math.abs(c - 0.25) < 0.05, covered.join(", "));
});

test("ring hash rejects ring sizes outside 1..8M", () => {
  const key = { kind: "sourceIp" } as const;
  assert.throws(() => ringHashPolicy(makeDeps(1), { key, minimumRingSize: 0 }), /minimumRingSize/);
  assert.throws(() => ringHashPolicy(makeDeps(1), { key, minimumRingSize: MAXIMUM_RING_SIZE + 1 }), /minimumRingSize/);
  assert.throws(() => ringHashPolicy(makeDeps(1), { key, minimumRingSize: 1.5 }), /minimumRingSize/);
});
