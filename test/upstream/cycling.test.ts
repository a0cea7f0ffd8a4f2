// maxRequestsPerConnection cycles upstream connections: 10,000 RPCs at concurrency 50 with
// N = 1, 10, 100 lose none, and the proxy opens 10,000 / N connections (a few more at most:
// requests racing a connection's last stream slot can leave it short by the concurrency).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { listenerYaml, serviceEntryYaml, withProxy } from "../support/cluster.js";
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

for (const transport of TEST_TRANSPORTS) describe(`transport ${transport}`, () => {
  for (const n of [1, 10, 100]) {
    test(`maxRequestsPerConnection ${n}: ${TOTAL} RPCs at concurrency ${CONCURRENCY}, none failed, ~${TOTAL / n} upstream connections`, async () => {
      const yaml = (ports: number[]): string =>
        [
          listenerYaml("", transport),
          serviceEntryYaml("echo", ports),
          `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  trafficPolicy:
    connectionPool:
      http: { maxRequestsPerConnection: ${n} }`,
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
