// `scale-out` live through the proxy and in the simulator (test/sim/sim-vs-live.ts says how).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ADD_AT_MS, compare, scaled } from "./sim-vs-live.js";

test("scale-out, live and simulated: a 4th pod takes 3 of 12 connections as they cycle; shares and time to balance within 15%", async (t) => {
  const { sim } = await compare(t, scaled("scale-out", 3, 1, ADD_AT_MS + 2800));
  assert.ok(sim.timeToBalanceMs! >= 600 && sim.timeToBalanceMs! <= 1400, String(sim.timeToBalanceMs));
});
