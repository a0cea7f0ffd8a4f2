// register() adds sluice's policies to grpc-js, once, and leaves grpc-js's own alone.
// The module-level state matters: the first test runs before register() is called here.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { registeredPolicies } from "../../src/balancer/registry.js";
import { register, SLUICE_LB_POLICIES } from "../../src/client/register.js";

test("before register(), grpc-js knows none of sluice's policies", () => {
  for (const name of SLUICE_LB_POLICIES) assert.equal(grpc.experimental.isLoadBalancerNameRegistered(name), false, name);
});

test("register() adds least_request, peak_ewma, ring_hash and the two wrappers, and the shared balancer registry", () => {
  register();
  assert.deepEqual([...SLUICE_LB_POLICIES].sort(), ["least_request", "max_requests_per_connection", "peak_ewma", "ring_hash", "sluice_outlier"]);
  for (const name of SLUICE_LB_POLICIES) assert.equal(grpc.experimental.isLoadBalancerNameRegistered(name), true, name);
  assert.ok(registeredPolicies().includes("LEAST_REQUEST"));
});

test("register() is idempotent: a second call changes nothing", () => {
  const before = grpc.experimental.parseLoadBalancingConfig({ least_request: {} }).constructor;
  register();
  register();
  assert.equal(grpc.experimental.parseLoadBalancingConfig({ least_request: {} }).constructor, before);
});

test("register() leaves grpc-js's round_robin and pick_first as they are", () => {
  register();
  for (const name of ["round_robin", "pick_first"]) {
    const config = grpc.experimental.parseLoadBalancingConfig({ [name]: {} });
    assert.equal(config.getLoadBalancerName(), name);
    assert.equal("createPolicy" in config, false, `${name} was replaced by a sluice policy`);
  }
});
