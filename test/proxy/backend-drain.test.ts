// A backend that shuts down gracefully under load (grpc-js tryShutdown: GOAWAY, in-flight
// RPCs finish, then the port closes): no RPC fails. Streams racing the GOAWAY are refused and
// retried, new ones go to the other backend, connects to the closed port are retried there.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml, startPods, startProxy } from "../support/cluster.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("a backend shutting down gracefully mid-load: every RPC succeeds", async () => {
      const pods = await startPods(2);
      const proxy = await startProxy(
        [
          listenerYaml("", transport),
          serviceEntryYaml(
            "echo",
            pods.map((p) => p.port),
          ),
          destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }"),
        ].join("\n---\n"),
      );
      const client = echoClient(proxy.target, { "grpc.default_authority": "echo" });
      try {
        let sent = 0;
        const failures: string[] = [];
        const shutDown = new Promise<void>((resolve) => {
          // Once the first pod has served some RPCs, it drains while the load goes on.
          const onBegin = (): void => {
            if (pods[0]!.stats.rpcs < 100) return;
            pods[0]!.stats.events.off("begin", onBegin);
            pods[0]!.server.tryShutdown(() => resolve());
          };
          pods[0]!.stats.events.on("begin", onBegin);
        });
        const loop = async (): Promise<void> => {
          while (sent < 1500) {
            sent++;
            const r = await callUnary(client, Buffer.from(`rpc-${sent}`));
            if (r.code !== 0) failures.push(`${r.code} ${r.details}`);
          }
        };
        await Promise.all(Array.from({ length: 10 }, loop));
        await shutDown;
        assert.deepEqual(failures, []);
        assert.ok(pods[0]!.stats.rpcs >= 100);
        assert.equal(pods[0]!.stats.rpcs + pods[1]!.stats.rpcs, 1500);
      } finally {
        client.close();
        await proxy.stop();
        await pods[1]!.stop();
        if (pods[0]!.stats.active > 0) await once(pods[0]!.stats.events, "end");
      }
    });
  });
