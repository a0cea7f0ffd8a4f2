// StreamTable against a Map as the oracle: random sets and deletes of stream ids (odd ids
// as a server sees them, clustered as they are on a busy connection), every get checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { StreamTable } from "../../../src/transport/h2/stream-table.js";

const op = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), id: fc.integer({ min: 0, max: 300 }).map((n) => n * 2 + 1) }),
  fc.record({ kind: fc.constant("delete" as const), id: fc.integer({ min: 0, max: 300 }).map((n) => n * 2 + 1) }),
);

test("StreamTable behaves as a Map under random set/delete sequences", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 600 }), (ops) => {
      const table = new StreamTable<string>();
      const oracle = new Map<number, string>();
      ops.forEach((o, n) => {
        if (o.kind === "set") {
          table.set(o.id, `v${n}`);
          oracle.set(o.id, `v${n}`);
        } else {
          assert.equal(table.delete(o.id), oracle.delete(o.id));
        }
        assert.equal(table.size, oracle.size);
      });
      for (let id = 1; id <= 601; id += 2) assert.equal(table.get(id), oracle.get(id), `id ${id}`);
      const expected = [...oracle.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
      assert.deepEqual(table.snapshot(), expected);
    }),
    { numRuns: 300 },
  );
});

test("an emptied table keeps its arrays and clear() drops them", () => {
  const t = new StreamTable<number>();
  assert.equal(t.get(1), undefined);
  assert.equal(t.delete(1), false);
  for (let id = 1; id < 100; id += 2) t.set(id, id);
  for (let id = 1; id < 100; id += 2) assert.equal(t.delete(id), true);
  assert.equal(t.size, 0);
  t.set(101, 101);
  assert.equal(t.get(101), 101);
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.get(101), undefined);
});
