// The registry is module state: this file's first test runs before registerBuiltins().
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPolicy, policyName, registerBuiltins, registeredPolicies } from "../../src/balancer/registry.js";
import type { LoadBalancerSettings } from "../../src/config/types.js";
import { makeDeps, makeEndpoints, makeRequest, pickKey } from "./fixtures.js";

const simple = (policy: string): LoadBalancerSettings => ({ kind: "simple", policy }) as LoadBalancerSettings;
const ringHash: LoadBalancerSettings = {
  kind: "consistentHash",
  key: { kind: "header", name: "x-user" },
  algorithm: { kind: "ringHash", minimumRingSize: 1024 },
};
const maglev: LoadBalancerSettings = {
  kind: "consistentHash",
  key: { kind: "header", name: "x-user" },
  algorithm: { kind: "maglev", tableSize: 65537 },
};

test("createPolicy before registerBuiltins says to call it", () => {
  assert.deepEqual(registeredPolicies(), []);
  assert.throws(() => createPolicy(simple("ROUND_ROBIN"), makeDeps(1)), /registerBuiltins\(\)/);
});

test("registerBuiltins registers every built-in policy and is idempotent", () => {
  registerBuiltins();
  registerBuiltins();
  assert.deepEqual(registeredPolicies(), ["LEAST_REQUEST", "MAGLEV", "PASSTHROUGH", "RANDOM", "RING_HASH", "ROUND_ROBIN"]);
});

test("createPolicy names an unknown policy and lists the known ones", () => {
  registerBuiltins();
  assert.throws(() => createPolicy(simple("WEIGHTED_MAGIC"), makeDeps(1)), /unknown load-balancing policy WEIGHTED_MAGIC; registered: LEAST_REQUEST, MAGLEV/);
});

test("policy names follow the settings", () => {
  assert.equal(policyName(simple("RANDOM")), "RANDOM");
  assert.equal(policyName(ringHash), "RING_HASH");
  assert.equal(policyName(maglev), "MAGLEV");
});

test("createPolicy builds the policy the settings ask for", () => {
  registerBuiltins();
  const endpoints = makeEndpoints([1, 1, 1]);
  const keys = endpoints.map((e) => e.key);

  // ROUND_ROBIN: a strict rotation.
  const rr = createPolicy(simple("ROUND_ROBIN"), makeDeps(1))(endpoints);
  const first = keys.indexOf(pickKey(rr));
  assert.deepEqual([pickKey(rr), pickKey(rr)], [keys[(first + 1) % 3], keys[(first + 2) % 3]]);

  // LEAST_REQUEST: avoids a loaded endpoint when it can see them all.
  const loaded = makeEndpoints([1, 1, 1], [0, 7, 7]);
  const lr = createPolicy(simple("LEAST_REQUEST"), makeDeps(1, { choiceCount: 3 }))(loaded);
  for (let i = 0; i < 20; i++) assert.equal(pickKey(lr), loaded[0]!.key);

  // PASSTHROUGH: goes where :authority says.
  const pt = createPolicy(simple("PASSTHROUGH"), makeDeps(1))(endpoints);
  assert.equal(pickKey(pt, makeRequest({ authority: "192.0.2.44:9000" })), "192.0.2.44:9000");

  // RANDOM: not a rotation (some pick repeats within 30).
  const random = createPolicy(simple("RANDOM"), makeDeps(1))(endpoints);
  const picks = Array.from({ length: 30 }, () => pickKey(random));
  assert.ok(picks.some((k, i) => i > 0 && k === picks[i - 1]));

  // Consistent hashing: sticky on the configured header.
  for (const settings of [ringHash, maglev]) {
    const picker = createPolicy(settings, makeDeps(1))(endpoints);
    const request = makeRequest({ headers: { "x-user": "carol" } });
    const home = pickKey(picker, request);
    for (let i = 0; i < 20; i++) assert.equal(pickKey(picker, request), home);
  }
});

test("createPolicy passes settings errors through with their field named", () => {
  registerBuiltins();
  assert.throws(() => createPolicy({ ...maglev, algorithm: { kind: "maglev", tableSize: 1000 } }, makeDeps(1)), /tableSize must be a prime/);
  assert.throws(() => createPolicy({ ...ringHash, algorithm: { kind: "ringHash", minimumRingSize: 0 } }, makeDeps(1)), /minimumRingSize/);
});
