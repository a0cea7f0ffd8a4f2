// `seed` live through the proxy and in the simulator (test/sim/sim-vs-live.ts says how).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ADD_AT_MS, compare, scaled } from "./sim-vs-live.js";

test("seed, live and simulated: all on pod 1, then pods 2 and 3 fill up as connections cycle; shares and time to balance within 15%", async (t) => {
  const { sim } = await compare(t, scaled("seed", 1, 2, ADD_AT_MS + 3600));
  // 8 connections must move (4 to each new pod), one per 333 ms.
  assert.ok(sim.timeToBalanceMs! >= 2000 && sim.timeToBalanceMs! <= 3200, String(sim.timeToBalanceMs));
});
