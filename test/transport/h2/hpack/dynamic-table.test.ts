import { test } from "node:test";
import assert from "node:assert/strict";
import { DynamicTable, entrySize } from "../../../../src/transport/h2/hpack/dynamic-table.js";

test("entries are indexed newest first and sized 32 + name + value", () => {
  const t = new DynamicTable(4096);
  t.add("a", "1");
  t.add("bb", "22");
  assert.deepEqual(t.entries(), [
    ["bb", "22"],
    ["a", "1"],
  ]);
  assert.equal(t.size, entrySize("a", "1") + entrySize("bb", "22"));
  assert.equal(t.size, 34 + 36);
  assert.equal(t.name(1), "bb");
  assert.equal(t.value(2), "1");
});

test("adding evicts the oldest entries until the new one fits, and reports each", () => {
  const evicted: [string, string, number][] = [];
  const t = new DynamicTable(100, (n, v, seq) => evicted.push([n, v, seq]));
  t.add("a", "x".repeat(10)); // 43, seq 0
  t.add("b", "y".repeat(10)); // 43, seq 1
  assert.equal(t.size, 86);
  t.add("c", "z"); // 34: 120 > 100, evicts seq 0
  assert.deepEqual(evicted, [["a", "x".repeat(10), 0]]);
  assert.deepEqual(
    t.entries().map(([n]) => n),
    ["c", "b"],
  );
  assert.equal(t.size, 77);
  assert.equal(t.indexOfSeq(0), 0);
  assert.equal(t.indexOfSeq(1), 2);
  assert.equal(t.indexOfSeq(2), 1);
});

test("an entry larger than the table empties it and is not added", () => {
  const t = new DynamicTable(64);
  t.add("a", "b");
  t.add("name", "v".repeat(40)); // 76 > 64
  assert.equal(t.length, 0);
  assert.equal(t.size, 0);
  assert.equal(t.insertedCount, 2);
  // An entry of exactly the table size fits.
  t.add("n", "v".repeat(31));
  assert.equal(t.size, 64);
  assert.equal(t.length, 1);
});

test("lowering the maximum size evicts; zero empties the table", () => {
  const t = new DynamicTable(4096);
  for (let i = 0; i < 10; i++) t.add(`k${i}`, "v"); // 35 each
  t.setMaxSize(100);
  assert.deepEqual(
    t.entries().map(([n]) => n),
    ["k9", "k8"],
  );
  t.setMaxSize(0);
  assert.equal(t.length, 0);
  assert.equal(t.size, 0);
  t.setMaxSize(4096);
  t.add("x", "y");
  assert.deepEqual(t.entries(), [["x", "y"]]);
});

test("the ring keeps order across growth and wrap-around", () => {
  const t = new DynamicTable(35 * 20);
  const expected: string[] = [];
  for (let i = 0; i < 500; i++) {
    t.add(`k${i % 10}`, String.fromCharCode(97 + (i % 26)));
    expected.unshift(`k${i % 10}`);
    assert.deepEqual(
      t.entries().map(([n]) => n),
      expected.slice(0, 20),
      `after ${i}`,
    );
    assert.equal(t.size, 35 * Math.min(i + 1, 20));
  }
});
