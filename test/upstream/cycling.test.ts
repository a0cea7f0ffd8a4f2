// maxRequestsPerConnection cycles upstream connections: 10,000 RPCs at concurrency 50 with
// N = 1, 10, 100 lose none, and the proxy opens 10,000 / N connections (a few more at most:
// requests racing a connection's last stream slot can leave it short by the concurrency).
// tcp.maxConnectionDuration retires connections under load the same graceful way.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { ManualClock } from "../../src/core/clock.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml, startPods, startProxy, withProxy } from "../support/cluster.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const TOTAL = 10_000;
const CONCURRENCY = 50;

async function drive(client: grpc.Client): Promise<number> {
  let sent = 0;
  let failed = 0;
  const loop = async (): Promise<void> => {
    while (sent < TOTAL) {
      sent++;
      const r = await callUnary(client, Buffer.from("x"));
      if (r.code !== 0) failed++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return failed;
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    for (const n of [1, 10, 100]) {
      test(`maxRequestsPerConnection ${n}: ${TOTAL} RPCs at concurrency ${CONCURRENCY}, none failed, ~${TOTAL / n} upstream connections`, async () => {
        const yaml = (ports: number[]): string =>
          [
            listenerYaml("", transport),
            serviceEntryYaml("echo", ports),
            destinationRuleYaml("echo", `    connectionPool:\n      http: { maxRequestsPerConnection: ${n} }`),
          ].join("\n---\n");
        await withProxy(1, yaml, async (proxy, pods) => {
          const client = echoClient(proxy.target, { "grpc.default_authority": "echo" });
          try {
            assert.equal(await drive(client), 0);
          } finally {
            client.close();
          }
          assert.equal(pods[0]!.stats.rpcs, TOTAL);
          const cluster = proxy.proxy.cluster("echo|50051|")!;
          const opened = cluster.pool(cluster.endpointList()[0]!).connectionsOpened;
          assert.ok(opened >= TOTAL / n && opened <= TOTAL / n + CONCURRENCY, `${opened} connections for N = ${n}`);
        });
      });
    }
  });

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}: connection age`, () => {
    test("tcp.maxConnectionDuration retires connections under load without failing an RPC", async () => {
      const clock = new ManualClock();
      const pods = await startPods(1);
      const proxy = await startProxy(
        [
          listenerYaml("", transport),
          serviceEntryYaml("echo", [pods[0]!.port]),
          destinationRuleYaml("echo", "    connectionPool:\n      tcp: { maxConnectionDuration: 1s }"),
        ].join("\n---\n"),
        { clock },
      );
      const client = echoClient(proxy.target, { "grpc.default_authority": "echo" });
      // Every 50 RPCs the clock moves past the connections' age limit.
      const onBegin = (): void => {
        if (pods[0]!.stats.rpcs % 50 === 0) clock.advance(1000);
      };
      pods[0]!.stats.events.on("begin", onBegin);
      try {
        let sent = 0;
        let failed = 0;
        await Promise.all(
          Array.from({ length: 10 }, async () => {
            while (sent < 1000) {
              sent++;
              if ((await callUnary(client, Buffer.from("x"))).code !== 0) failed++;
            }
          }),
        );
        assert.equal(failed, 0);
        const cluster = proxy.proxy.cluster("echo|50051|")!;
        const opened = cluster.pool(cluster.endpointList()[0]!).connectionsOpened;
        assert.ok(opened >= 15, `only ${opened} upstream connections for 20 age limits`);
      } finally {
        pods[0]!.stats.events.off("begin", onBegin);
        client.close();
        await proxy.stop();
        await pods[0]!.stop();
      }
    });
  });
