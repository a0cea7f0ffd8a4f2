// Connection stickiness (a long-lived connection stays on the backend it first reached) solved
// in request mode: clients that each hold ONE long-lived channel still spread their RPCs
// evenly over every backend, because the proxy balances each RPC. (Connection mode, where the proxy balances connections and cycles them,
// is in connection-mode.test.ts.)
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { drive } from "../support/calls.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const policies = [
  { name: "unset (LEAST_REQUEST)", dr: [] },
  { name: "LEAST_CONN", dr: [destinationRuleYaml("echo", "    loadBalancer: { simple: LEAST_CONN }\n")] },
  { name: "ROUND_ROBIN", dr: [destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }\n")] },
  { name: "RANDOM", dr: [destinationRuleYaml("echo", "    loadBalancer: { simple: RANDOM }\n")] },
];

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    for (const c of policies) {
      test(`3 clients x 1 channel, 3 backends, 3,000 RPCs, ${c.name}: every backend serves 33% +- 5%`, async (t) => {
        const h = await proxyWithPods(t, { pods: 3, config: (ports) => [listenerYaml("", transport), serviceEntryYaml("echo", ports), ...c.dr] });
        const cs = [h.client, h.newClient(), h.newClient()];
        const failed = await drive(cs, 3000, 4);
        assert.equal(failed, 0);
        const total = h.pods.reduce((a, p) => a + p.stats.rpcs, 0);
        assert.equal(total, 3000);
        for (const p of h.pods) {
          const share = p.stats.rpcs / total;
          assert.ok(Math.abs(share - 1 / 3) <= 0.05, `${p.stats.name} served ${(share * 100).toFixed(1)}%`);
        }
        // Each client really held one connection to the proxy the whole time.
        assert.equal(h.proxy.connectionsAccepted, 3);
      });
    }
  });
