// `import { register } from "sluice/client"` resolves through package.json "exports" (Node
// resolves a package's own name from inside it). The specifier is a variable so that tsc
// does not need dist/ to exist when it compiles this file.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type * as ClientIndex from "../../src/client/index.js";

type ClientModule = typeof ClientIndex;

test('"sluice/client" resolves to the built client entry point, and its register() works', async () => {
  const specifier = "sluice/client";
  const client = (await import(specifier)) as ClientModule;
  assert.equal(typeof client.register, "function");
  assert.match(import.meta.resolve(specifier), /\/dist\/src\/client\/index\.js$/);
  client.register();
  assert.equal(grpc.experimental.isLoadBalancerNameRegistered("least_request"), true);
  assert.deepEqual([...client.SLUICE_LB_POLICIES].sort(), ["least_request", "max_requests_per_connection", "peak_ewma", "ring_hash", "sluice_outlier"]);
  for (const name of client.SLUICE_LB_POLICIES) assert.equal(grpc.experimental.isLoadBalancerNameRegistered(name), true, name);
  // The resolvers too: dns targets (and schemeless ones) get sluice's re-resolving resolver.
  const resolver = grpc.experimental.createResolver({ scheme: "dns", path: "echo.default.svc:50051" }, () => true, {});
  resolver.destroy();
  assert.equal(resolver.constructor.name, "SluiceDnsResolver");
});
