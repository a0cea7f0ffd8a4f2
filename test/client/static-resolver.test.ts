import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { experimental } from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { parseStaticTarget, StaticResolver } from "../../src/client/static-resolver.js";
import { registerSluiceResolvers } from "../../src/client/resolvers.js";
import { clientFor } from "../support/calls.js";
import { startPods, type Pod } from "../support/cluster.js";

const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

describe("parseStaticTarget", () => {
  const table: [string, string[] | RegExp][] = [
    ["10.0.0.1:50051", ["10.0.0.1:50051"]],
    ["10.0.0.1:1,10.0.0.2:2, [fd00::3]:3", ["10.0.0.1:1", "10.0.0.2:2", "[fd00::3]:3"]],
    ["10.0.0.1", ["10.0.0.1:443"]],
    ["[::1]", ["[::1]:443"]],
    ["echo.test:50051", /entry 1 "echo.test:50051": "echo.test" is not an IP address \(use dns:\/\/\/echo.test:50051 for names\)/],
    ["10.0.0.1:1,,10.0.0.2:2", /entry 2 is empty/],
    ["10.0.0.1:70000", /entry 1 "10.0.0.1:70000": expected ip:port or \[v6\]:port/],
    ["10.0.0.1:x", /expected ip:port/],
    ["[fd00::1:1", /expected ip:port/],
    ["10.0.0.1:1,10.0.0.1:1", /entry 2 "10.0.0.1:1": 10.0.0.1:1 is listed twice/],
  ];
  for (const [path, want] of table) {
    test(path, () => {
      const r = parseStaticTarget(path);
      if (Array.isArray(want)) {
        assert.ok(r.ok, JSON.stringify(r));
        assert.deepEqual(
          r.endpoints.map((e) => e.addresses.map((a) => experimental.subchannelAddressToString(a)).join()),
          want,
        );
      } else {
        assert.ok(!r.ok);
        assert.match(r.problems.join("; "), want);
      }
    });
  }
  test("every problem at once", () => {
    const r = parseStaticTarget("a:1,,10.0.0.1:99999");
    assert.ok(!r.ok);
    assert.equal(r.problems.length, 3);
  });
});

test("the list is reported once per LB, never synchronously; an error every time", async () => {
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const reports: boolean[] = [];
  const good = new StaticResolver({ scheme: "static", path: "10.0.0.1:1" }, (r) => (reports.push(r.ok), true));
  good.updateResolution();
  good.updateResolution();
  assert.deepEqual(reports, []);
  await flush();
  good.updateResolution();
  await flush();
  assert.deepEqual(reports, [true]);
  good.destroy();
  good.updateResolution();
  await flush();
  assert.deepEqual(reports, [true, true], "after destroy() the channel's new LB gets the list again");
  good.updateResolution();
  good.destroy();
  await flush();
  assert.deepEqual(reports, [true, true], "nothing after destroy()");
  const errors: boolean[] = [];
  const bad = new StaticResolver({ scheme: "static", path: "x" }, (r) => (errors.push(r.ok), true));
  bad.updateResolution();
  await flush();
  bad.updateResolution();
  await flush();
  assert.deepEqual(errors, [false, false]);
});

describe("static resolver in a channel", { timeout: 20_000 }, () => {
  let pods: Pod[] = [];

  before(async () => {
    registerSluiceResolvers();
    registerSluiceResolvers(); // idempotent
    pods = await startPods(2);
  });

  after(async () => {
    for (const p of pods) await p.stop();
  });

  test("round_robin spreads calls over the listed endpoints", async (t) => {
    const client = clientFor(t, `static:///${pods.map((p) => `127.0.0.1:${p.port}`).join(",")}`, { "grpc.service_config": ROUND_ROBIN });
    // Until both connections are READY, round_robin uses the one that is.
    const start = pods.map((p) => p.stats.rpcs);
    for (let i = 0; i < 50 && pods.some((p, j) => p.stats.rpcs === start[j]); i++) {
      assert.equal((await callUnary(client, Buffer.from("x"))).code, 0);
    }
    const before = pods.map((p) => p.stats.rpcs);
    for (let i = 0; i < 10; i++) assert.equal((await callUnary(client, Buffer.from("x"))).code, 0);
    assert.deepEqual(
      pods.map((p, i) => p.stats.rpcs - before[i]!),
      [5, 5],
    );
  });

  test("a bad target fails calls with UNAVAILABLE saying what is wrong", async (t) => {
    const client = clientFor(t, "static:///echo.test:1,127.0.0.1:99999");
    const r = await callUnary(client, Buffer.from("x"), undefined, { deadline: Date.now() + 5000 });
    assert.equal(r.code, 14, r.details);
    assert.match(r.details, /bad static target static:\/\/\/echo.test:1,127.0.0.1:99999: entry 1 .* is not an IP address .*; entry 2 .*expected ip:port/);
  });
});
