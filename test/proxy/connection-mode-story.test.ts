// The seed document's story ("How maxRequestsPerConnection Works"), end to end in connection
// mode: three clients with one channel each all pin to pod 1, the only pod at first; pods 2
// and 3 join. With maxRequestsPerConnection: 100 every connection is cycled after 100 RPCs and
// LEAST_CONN sends the reconnection to the pod with the fewest pinned connections, so the
// clients end up one per pod. Without it they stay on pod 1 (the document's Challenge 1).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { ManualEndpointSource } from "../../src/discovery/manual.js";
import type { ResolvedEndpoint } from "../../src/discovery/types.js";
import type { TransportKind } from "../../src/config/types.js";
import {
  clients,
  closeAll,
  destinationRuleYaml,
  listenerYaml,
  serviceEntryYaml,
  startPods,
  startProxy,
  type Pod,
  type RunningProxy,
} from "../support/cluster.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const CLUSTER = "echo|50051|";
const RPCS_PER_CLIENT = 2000;

function destinationRule(connectionPool: string): string {
  return destinationRuleYaml("echo", `    loadBalancer: { simple: LEAST_CONN }\n${connectionPool}`);
}

const CYCLING = "    connectionPool:\n      http: { maxRequestsPerConnection: 100 }\n";

function endpointOf(pod: Pod): ResolvedEndpoint {
  return { address: "127.0.0.1", port: pod.port, weight: 1, labels: {} };
}

/** Connections pinned to each pod, as the proxy counts them (LEAST_CONN's load metric). */
function pinned(proxy: RunningProxy, pods: readonly Pod[]): number[] {
  const eps = proxy.proxy.cluster(CLUSTER)!.endpointList();
  return pods.map((p) => eps.find((e) => e.port === p.port)?.load.activeConnections ?? 0);
}

/** Each client sends `n` RPCs one after another on its one channel; returns the failures. */
async function sequential(cs: readonly grpc.Client[], n: number): Promise<string[]> {
  const failures: string[] = [];
  await Promise.all(
    cs.map(async (c, ci) => {
      for (let i = 0; i < n; i++) {
        const r = await callUnary(c, Buffer.from("x"));
        if (r.code !== 0) failures.push(`client ${ci + 1} RPC ${i + 1}: ${r.code} ${r.details}`);
      }
    }),
  );
  return failures;
}

/**
 * The story up to "pods 2 and 3 join": pod 1 alone in the cluster, each client's first RPC
 * pins its connection there (3/0/0), then the other pods are added. Runs `rest`, then stops all.
 */
async function story(
  transport: TransportKind,
  connectionPool: string,
  rest: (proxy: RunningProxy, pods: Pod[], cs: grpc.Client[]) => Promise<void>,
): Promise<void> {
  const pods = await startPods(3);
  const source = new ManualEndpointSource([endpointOf(pods[0]!)]);
  const yaml = [
    listenerYaml("  mode: connection", transport),
    serviceEntryYaml(
      "echo",
      pods.map((p) => p.port),
    ),
    destinationRule(connectionPool),
  ].join("\n---\n");
  const proxy = await startProxy(yaml, { endpointSource: () => source });
  const cs = clients(proxy.target, 3);
  try {
    assert.deepEqual(await sequential(cs, 1), []);
    assert.deepEqual(pinned(proxy, pods), [3, 0, 0], "at start every client is pinned to pod 1, the only pod");
    source.set(pods.map(endpointOf));
    await rest(proxy, pods, cs);
  } finally {
    closeAll(cs);
    await proxy.stop();
    for (const p of pods) await p.stop();
  }
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("the document's story: 3 clients pinned to pod 1, pods 2 and 3 join, maxRequestsPerConnection 100 -> after 2,000 RPCs per client 1/1/1, no RPC failed", async () => {
      await story(transport, CYCLING, async (proxy, pods, cs) => {
        assert.deepEqual(await sequential(cs, RPCS_PER_CLIENT), []);
        // Each client's last connection carries 1 RPC (2,001 in all): open, pinned, not cycled yet.
        assert.deepEqual(pinned(proxy, pods), [1, 1, 1]);
        // 100 RPCs per connection exactly: each client cycled 20 connections.
        assert.equal(proxy.proxy.connectionsCycled, 60);
        assert.equal(proxy.proxy.connectionsAccepted, 63);
        for (const p of pods) assert.ok(p.stats.rpcs >= 1000, `${p.stats.name} served only ${p.stats.rpcs} RPCs`);
      });
    });

    test("Challenge 1 (connection stickiness): without maxRequestsPerConnection the 3 clients stay on pod 1 (3/0/0) after 2,000 RPCs each", async () => {
      await story(transport, "", async (proxy, pods, cs) => {
        assert.deepEqual(await sequential(cs, RPCS_PER_CLIENT), []);
        assert.deepEqual(pinned(proxy, pods), [3, 0, 0]);
        assert.deepEqual(
          pods.map((p) => p.stats.rpcs),
          [3 * (RPCS_PER_CLIENT + 1), 0, 0],
        );
        assert.equal(proxy.proxy.connectionsCycled, 0);
        assert.equal(proxy.proxy.connectionsAccepted, 3);
      });
    });
  });
