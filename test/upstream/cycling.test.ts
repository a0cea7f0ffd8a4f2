// maxRequestsPerConnection cycles upstream connections: 10,000 RPCs at concurrency 50 with
// N = 1, 10, 100 lose none, and the proxy opens 10,000 / N connections (a few more at most:
// requests racing a connection's last stream slot can leave it short by the concurrency).
// tcp.maxConnectionDuration retires connections under load the same graceful way.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.js";
import { drive } from "../support/calls.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const TOTAL = 10_000;
const CONCURRENCY = 50;

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    for (const n of [1, 10, 100]) {
      test(`maxRequestsPerConnection ${n}: ${TOTAL} RPCs at concurrency ${CONCURRENCY}, none failed, ~${TOTAL / n} upstream connections`, async (t) => {
        const h = await proxyWithPods(t, {
          config: (ports) => [
            listenerYaml("", transport),
            serviceEntryYaml("echo", ports),
            destinationRuleYaml("echo", `    connectionPool:\n      http: { maxRequestsPerConnection: ${n} }`),
          ],
        });
        assert.equal(await drive([h.client], TOTAL, CONCURRENCY), 0);
        assert.equal(h.pods[0]!.stats.rpcs, TOTAL);
        const cluster = h.cluster();
        const opened = cluster.pool(cluster.endpointList()[0]!).connectionsOpened;
        assert.ok(opened >= TOTAL / n && opened <= TOTAL / n + CONCURRENCY, `${opened} connections for N = ${n}`);
      });
    }
  });

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}: connection age`, () => {
    test("tcp.maxConnectionDuration retires connections under load without failing an RPC", async (t) => {
      const clock = new ManualClock();
      const h = await proxyWithPods(t, {
        config: (ports) => [
          listenerYaml("", transport),
          serviceEntryYaml("echo", ports),
          destinationRuleYaml("echo", "    connectionPool:\n      tcp: { maxConnectionDuration: 1s }"),
        ],
        deps: { clock },
      });
      const pod = h.pods[0]!;
      // Every 50 RPCs the clock moves past the connections' age limit.
      const onBegin = (): void => {
        if (pod.stats.rpcs % 50 === 0) clock.advance(1000);
      };
      pod.stats.events.on("begin", onBegin);
      defer(t, () => pod.stats.events.off("begin", onBegin));
      assert.equal(await drive([h.client], 1000, 10), 0);
      const cluster = h.cluster();
      const opened = cluster.pool(cluster.endpointList()[0]!).connectionsOpened;
      assert.ok(opened >= 15, `only ${opened} upstream connections for 20 age limits`);
    });
  });
