import { test } from "node:test";
import assert from "node:assert/strict";
import { reuseCost } from "../../src/sim/reuse-cost.js";
import { configWith } from "./sim-config.js";

test("maxRequestsPerConnection 1, measured by the simulator: a connection per RPC, and the latency of waiting for it", () => {
  const { config, cluster } = configWith("    connectionPool: { http: { maxRequestsPerConnection: 1 } }\n", "  mode: connection\n");
  const text = reuseCost(config, cluster)!;
  const m =
    /: ([\d,]+) new connections per second and p50\/p99 ([\d.]+)\/([\d.]+) ms, against ([\d,]+) per second and ([\d.]+)\/([\d.]+) ms with maxRequestsPerConnection: 100$/.exec(
      text,
    );
  assert.ok(m, text);
  const [perS, p50, , reusedPerS, reusedP50] = [m[1], m[2], m[3], m[4], m[5]].map((x) => Number(x!.replace(/,/g, "")));
  // 3,000 RPC/s: one connection each, against one per 100 RPCs.
  assert.ok(Math.abs(perS! - 3000) < 150, text);
  assert.ok(Math.abs(reusedPerS! - 30) < 3, text);
  assert.ok(p50! > reusedP50!, text);
});

test("nothing to say when connections are reused (0 = unlimited, or 100 and more), nor in request mode (the simulator has no upstream pool)", () => {
  for (const n of [0, 100, 1000]) {
    const { config, cluster } = configWith(`    connectionPool: { http: { maxRequestsPerConnection: ${n} } }\n`, "  mode: connection\n");
    assert.equal(reuseCost(config, cluster), undefined);
  }
  const request = configWith("    connectionPool: { http: { maxRequestsPerConnection: 1 } }\n");
  assert.equal(reuseCost(request.config, request.cluster), undefined);
});
