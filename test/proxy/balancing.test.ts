// The seed document's Challenge 1 solved: clients that each hold ONE long-lived channel
// still spread their RPCs evenly over every backend, because the proxy balances each RPC.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import type { EndpointSource, ResolvedEndpoint } from "../../src/discovery/types.js";
import { clients, closeAll, listenerYaml, serviceEntryYaml, startPods, startProxy, withProxy } from "../support/cluster.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

async function drive(cs: readonly grpc.Client[], total: number, perClientInFlight: number): Promise<number> {
  let sent = 0;
  let failed = 0;
  const loop = async (c: grpc.Client): Promise<void> => {
    while (sent < total) {
      sent++;
      const r = await callUnary(c, Buffer.from("x"));
      if (r.code !== 0) failed++;
    }
  };
  await Promise.all(cs.flatMap((c) => Array.from({ length: perClientInFlight }, () => loop(c))));
  return failed;
}

function destinationRule(lb: string, extra = ""): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  trafficPolicy:
    loadBalancer: ${lb}
${extra}`;
}

const cases = [
  { name: "unset (LEAST_REQUEST)", dr: "" },
  { name: "LEAST_CONN", dr: destinationRule("{ simple: LEAST_CONN }") },
  { name: "ROUND_ROBIN", dr: destinationRule("{ simple: ROUND_ROBIN }") },
  { name: "RANDOM", dr: destinationRule("{ simple: RANDOM }") },
];

for (const transport of TEST_TRANSPORTS) describe(`transport ${transport}`, () => {
  for (const c of cases) {
    test(`3 clients x 1 channel, 3 backends, 3,000 RPCs, ${c.name}: every backend serves 33% +- 5%`, async () => {
      const yaml = (ports: number[]): string =>
        [listenerYaml("", transport), serviceEntryYaml("echo", ports), c.dr].filter((d) => d !== "").join("\n---\n");
      await withProxy(3, yaml, async (proxy, pods) => {
        const cs = clients(proxy.target, 3);
        const failed = await drive(cs, 3000, 4);
        assert.equal(failed, 0);
        const total = pods.reduce((a, p) => a + p.stats.rpcs, 0);
        assert.equal(total, 3000);
        for (const p of pods) {
          const share = p.stats.rpcs / total;
          assert.ok(Math.abs(share - 1 / 3) <= 0.05, `${p.stats.name} served ${(share * 100).toFixed(1)}%`);
        }
        // Each client really held one connection to the proxy the whole time.
        assert.equal(proxy.proxy.connectionsAccepted, 3);
        closeAll(cs);
      });
    });
  }

  test("connection mode: connections are pinned by LEAST_CONN and cycled after maxRequestsPerConnection", async () => {
    const yaml = (ports: number[]): string =>
      [
        listenerYaml("  mode: connection", transport),
        serviceEntryYaml("echo", ports),
        destinationRule("{ simple: LEAST_CONN }", "    connectionPool:\n      http: { maxRequestsPerConnection: 100 }"),
      ].join("\n---\n");
    await withProxy(3, yaml, async (proxy, pods) => {
      const cs = clients(proxy.target, 3);
      const failed = await drive(cs, 3000, 1);
      assert.equal(failed, 0);
      // Every downstream connection carried at most 100 RPCs, so clients reconnected ~30 times.
      assert.ok(proxy.proxy.connectionsAccepted >= 30, `only ${proxy.proxy.connectionsAccepted} connections`);
      const total = pods.reduce((a, p) => a + p.stats.rpcs, 0);
      for (const p of pods) {
        const share = p.stats.rpcs / total;
        assert.ok(share >= 0.2, `${p.stats.name} served only ${(share * 100).toFixed(1)}%`);
      }
      closeAll(cs);
    });
  });

  test("connection mode: a connection pinned to an endpoint that leaves the cluster is balanced again", async () => {
    const pods = await startPods(2);
    // An endpoint source the test controls, in place of the ServiceEntry's static one.
    let push: (eps: readonly ResolvedEndpoint[]) => void = () => undefined;
    const source: EndpointSource = {
      start: (onUpdate) => {
        push = onUpdate;
        onUpdate(pods.map((p) => ({ address: "127.0.0.1", port: p.port, weight: 1, labels: {} })));
      },
      stop: () => undefined,
    };
    const yaml = [listenerYaml("  mode: connection", transport), serviceEntryYaml("echo", pods.map((p) => p.port))].join("\n---\n");
    const proxy = await startProxy(yaml, { endpointSource: () => source });
    const [client] = clients(proxy.target, 1);
    try {
      const first = await callUnary(client!, Buffer.from("x"));
      const pinned = String(first.headers?.get("x-pod")[0]);
      const other = pods.find((p) => p.stats.name !== pinned)!;
      push([{ address: "127.0.0.1", port: other.port, weight: 1, labels: {} }]);
      for (let i = 0; i < 5; i++) {
        const r = await callUnary(client!, Buffer.from("x"));
        assert.equal(String(r.headers?.get("x-pod")[0]), other.stats.name);
      }
      const eps = proxy.proxy.cluster("echo|50051|")!.endpointList();
      assert.deepEqual(eps.map((e) => e.load.activeConnections), [1]);
    } finally {
      client!.close();
      await proxy.stop();
      for (const p of pods) await p.stop();
    }
  });
});
