import { test } from "node:test";
import assert from "node:assert/strict";
import { buildMaglevTable, DEFAULT_MAGLEV_TABLE_SIZE, isPrime, maglevPolicy } from "../../src/balancer/maglev.js";
import { consistentHashCases } from "./consistent-hash-cases.js";
import { makeDeps, makeEndpoints } from "./fixtures.js";

consistentHashCases("maglev", (deps, key) => maglevPolicy(deps, { key }), {
  relativeTolerance: 0.05,
  // Maglev trades a little extra movement for evenness (the paper's Figure 11).
  extraMovement: 0.05,
  onlyRemovedKeysMove: false,
});

const tables: ReadonlyArray<{ weights: number[]; size: number }> = [
  { weights: [1, 1, 1], size: DEFAULT_MAGLEV_TABLE_SIZE },
  { weights: [1, 2, 3, 4], size: DEFAULT_MAGLEV_TABLE_SIZE },
  { weights: [1, 9], size: 251 },
  { weights: [7], size: 13 },
];

for (const row of tables) {
  test(`maglev table of ${row.size} slots is full and split ${row.weights.join(":")}`, () => {
    const table = buildMaglevTable(makeEndpoints(row.weights), row.size);
    assert.equal(table.length, row.size);
    const counts = row.weights.map(() => 0);
    for (const owner of table) {
      assert.ok(owner < row.weights.length, `slot owned by ${owner}`);
      counts[owner]!++;
    }
    const total = row.weights.reduce((a, b) => a + b, 0);
    row.weights.forEach((w, i) => {
      const want = (row.size * w) / total;
      assert.ok(Math.abs(counts[i]! - want) <= Math.max(2, want * 0.01), `endpoint ${i}: ${counts[i]} slots, want ~${want}`);
    });
  });
}

test("maglev table depends only on the endpoint set", () => {
  const endpoints = makeEndpoints([1, 1, 1, 1]);
  const a = buildMaglevTable(endpoints, 1009);
  assert.deepEqual(buildMaglevTable(endpoints, 1009), a);
});

test("maglev requires a prime table size", () => {
  const key = { kind: "sourceIp" } as const;
  assert.throws(() => maglevPolicy(makeDeps(1), { key, tableSize: 65536 }), /prime/);
  assert.throws(() => maglevPolicy(makeDeps(1), { key, tableSize: 1 }), /prime/);
  assert.doesNotThrow(() => maglevPolicy(makeDeps(1), { key, tableSize: 65537 }));
  assert.deepEqual([2, 3, 4, 9, 65537, 65539, 65541].map(isPrime), [true, true, false, false, true, true, false]);
});
