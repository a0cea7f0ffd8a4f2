import { test } from "node:test";
import assert from "node:assert/strict";
import { StaticEndpointSource } from "../../src/discovery/static.js";
import type { ResolvedEndpoint } from "../../src/discovery/types.js";

test("static source emits the configured endpoints once, synchronously in start", () => {
  const source = new StaticEndpointSource([
    { address: "10.0.0.1", port: 80, weight: 2, labels: { version: "v1" } },
    { address: "2001:db8::2", port: 81, weight: 1, labels: {} },
  ]);
  const updates: (readonly ResolvedEndpoint[])[] = [];
  source.start((set) => updates.push(set));
  assert.deepEqual(updates, [
    [
      { address: "10.0.0.1", port: 80, weight: 2, labels: { version: "v1" } },
      { address: "2001:db8::2", port: 81, weight: 1, labels: {} },
    ],
  ]);
  assert.ok(Object.isFrozen(updates[0]));
  source.stop();
  assert.equal(updates.length, 1);
});

test("static source with no endpoints emits an empty set", () => {
  const updates: (readonly ResolvedEndpoint[])[] = [];
  new StaticEndpointSource([]).start((set) => updates.push(set));
  assert.deepEqual(updates, [[]]);
});
