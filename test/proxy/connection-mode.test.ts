// Connection mode: the proxy balances each downstream connection, pinning it to an endpoint
// (LEAST_CONN counts pinned connections), and cycles it after maxRequestsPerConnection with a
// GOAWAY, so that clients holding one channel each still spread out. The connection-mode
// story end to end: three clients with one channel each all pin to pod 1, the only pod at
// first; pods 2 and 3 join. With maxRequestsPerConnection: 100 (examples/seed.yaml's value)
// every connection is cycled after 100 RPCs and LEAST_CONN sends the reconnection to the pod
// with the fewest pinned connections, so the clients end up one per pod. Without it they stay
// on pod 1 (connection stickiness: a long-lived connection stays on the backend it first reached).
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import type { TransportKind } from "../../src/config/types.js";
import { ManualClock } from "../../src/core/clock.js";
import { seededRandom } from "../../src/core/random.js";
import { callUnary } from "../../src/demo/echo-client.js";
import { ManualEndpointSource } from "../../src/discovery/manual.js";
import type { ResolvedEndpoint } from "../../src/discovery/types.js";
import { bidi, drive } from "../support/calls.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml, type Pod } from "../support/cluster.js";
import { proxyWithPods, type ProxyWithPods } from "../support/proxy-with-pods.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const RPCS_PER_CLIENT = 2000;

function leastConn(connectionPool = ""): string {
  return destinationRuleYaml("echo", `    loadBalancer: { simple: LEAST_CONN }\n${connectionPool}`);
}

const maxRequestsPerConnection = (n: number): string => `    connectionPool:\n      http: { maxRequestsPerConnection: ${n} }\n`;

function endpointOf(pod: Pod): ResolvedEndpoint {
  return { address: "127.0.0.1", port: pod.port, weight: 1, labels: {} };
}

/** Connections pinned to each pod, as the proxy counts them (LEAST_CONN's load metric). */
function pinned(h: ProxyWithPods): number[] {
  const eps = h.cluster().endpointList();
  return h.pods.map((p) => eps.find((e) => e.port === p.port)?.load.activeConnections ?? 0);
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
 * pins its connection there (3/0/0), then the other pods are added.
 */
async function story(t: TestContext, transport: TransportKind, connectionPool: string): Promise<{ h: ProxyWithPods; cs: grpc.Client[] }> {
  let source: ManualEndpointSource | undefined;
  const h = await proxyWithPods(t, {
    pods: 3,
    config: (ports) => [listenerYaml("  mode: connection", transport), serviceEntryYaml("echo", ports), leastConn(connectionPool)],
    deps: (pods) => {
      source = new ManualEndpointSource([endpointOf(pods[0]!)]);
      return { endpointSource: () => source! };
    },
  });
  const cs = [h.client, h.newClient(), h.newClient()];
  assert.deepEqual(await sequential(cs, 1), []);
  assert.deepEqual(pinned(h), [3, 0, 0], "at start every client is pinned to pod 1, the only pod");
  source!.set(h.pods.map(endpointOf));
  return { h, cs };
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("connections are pinned by LEAST_CONN and cycled after maxRequestsPerConnection", async (t) => {
      const h = await proxyWithPods(t, {
        pods: 3,
        config: (ports) => [listenerYaml("  mode: connection", transport), serviceEntryYaml("echo", ports), leastConn(maxRequestsPerConnection(100))],
      });
      const failed = await drive([h.client, h.newClient(), h.newClient()], 3000, 1);
      assert.equal(failed, 0);
      // Every downstream connection carried at most 100 RPCs, so clients reconnected ~30 times.
      assert.ok(h.proxy.connectionsAccepted >= 30, `only ${h.proxy.connectionsAccepted} connections`);
      const total = h.pods.reduce((a, p) => a + p.stats.rpcs, 0);
      for (const p of h.pods) {
        const share = p.stats.rpcs / total;
        assert.ok(share >= 0.2, `${p.stats.name} served only ${(share * 100).toFixed(1)}%`);
      }
    });

    // 12 clients connect one after another (one RPC each) to 3 pods; where the proxy pins each
    // connection, by policy. The random source is seeded, so RANDOM's picks are fixed, yet
    // still its own (independent of the pinned counts).
    const pinTable: ReadonlyArray<{ lb: string; check: (pinned: number[]) => void }> = [
      // The fewest pinned connections every time (not a sample of 2, which often misses it).
      { lb: "LEAST_CONN", check: (pinned) => assert.deepEqual(pinned, [4, 4, 4]) },
      { lb: "ROUND_ROBIN", check: (pinned) => assert.deepEqual(pinned, [4, 4, 4]) },
      {
        lb: "RANDOM",
        check: (pinned) => {
          assert.ok(
            pinned.every((n) => n >= 1),
            `every pod gets a connection: ${pinned.join("/")}`,
          );
          assert.notDeepEqual(pinned, [4, 4, 4], "seeded draws that happen not to be even");
        },
      },
    ];
    for (const row of pinTable) {
      test(`${row.lb}: 12 connections opened one after another are pinned as the policy says`, async (t) => {
        const h = await proxyWithPods(t, {
          pods: 3,
          config: (ports) => [
            listenerYaml("  mode: connection", transport),
            serviceEntryYaml("echo", ports),
            destinationRuleYaml("echo", `    loadBalancer: { simple: ${row.lb} }\n`),
          ],
          deps: { random: seededRandom(4) },
        });
        const served = new Map(h.pods.map((p) => [p.stats.name, 0]));
        for (let i = 0; i < 12; i++) {
          const r = await callUnary(h.newClient(), Buffer.from("x"));
          assert.equal(r.code, 0);
          const pod = String(r.headers?.get("x-pod")[0]);
          served.set(pod, (served.get(pod) ?? 0) + 1);
        }
        // The proxy's counts are where the connections really went.
        assert.deepEqual(
          pinned(h),
          h.pods.map((p) => served.get(p.stats.name)),
        );
        row.check(pinned(h));
      });
    }

    test("at maxRequestsPerConnection the proxy sends GOAWAY, RPCs in flight finish, the next RPC reconnects", async (t) => {
      const h = await proxyWithPods(t, {
        pods: 3,
        config: (ports) => [listenerYaml("  mode: connection", transport), serviceEntryYaml("echo", ports), leastConn(maxRequestsPerConnection(3))],
      });
      const pinnedTotal = (): number => pinned(h).reduce((a, n) => a + n, 0);
      // RPCs 1 and 2: bidi streams kept open, each with one echo back.
      const streams = [bidi(h.client), bidi(h.client)];
      for (const s of streams) assert.equal(await s.echo("a"), "a");
      assert.equal(h.proxy.connectionsCycled, 0);
      assert.equal(pinnedTotal(), 1);
      // RPC 3 reaches the limit: GOAWAY, and the connection no longer counts for LEAST_CONN.
      assert.equal((await callUnary(h.client, Buffer.from("x"))).code, 0);
      assert.equal(h.proxy.connectionsCycled, 1);
      assert.equal(pinnedTotal(), 0);
      // The streams in flight go on after the GOAWAY and finish OK.
      for (const s of streams) {
        assert.equal(await s.echo("b"), "b");
        assert.equal((await s.end()).code, 0);
      }
      // RPC 4 comes on a new connection, pinned afresh.
      assert.equal((await callUnary(h.client, Buffer.from("x"))).code, 0);
      assert.equal(h.proxy.connectionsAccepted, 2);
      assert.equal(pinnedTotal(), 1);
    });

    test("a connection sent GOAWAY at maxConnectionAge stops counting for LEAST_CONN while its RPCs finish", async (t) => {
      const clock = new ManualClock();
      const h = await proxyWithPods(t, {
        config: (ports) => [listenerYaml("  mode: connection\n  downstream: { maxConnectionAge: 1m }", transport), serviceEntryYaml("echo", ports)],
        deps: { clock },
      });
      const [endpoint] = h.cluster().endpointList();
      const stream = bidi(h.client);
      assert.equal(await stream.echo("a"), "a");
      assert.equal(endpoint!.load.activeConnections, 1);
      clock.advance(66_000); // 1m + 10% jitter at most
      assert.equal(h.proxy.lifetime.stats.maxAgeDrains, 1);
      assert.equal(endpoint!.load.activeConnections, 0);
      assert.equal(await stream.echo("b"), "b");
      assert.equal((await stream.end()).code, 0);
    });

    test("the connection-mode story: 3 clients pinned to pod 1, pods 2 and 3 join, maxRequestsPerConnection 100 -> after 2,000 RPCs per client 1/1/1, no RPC failed", async (t) => {
      const { h, cs } = await story(t, transport, maxRequestsPerConnection(100));
      assert.deepEqual(await sequential(cs, RPCS_PER_CLIENT), []);
      // Each client's last connection carries 1 RPC (2,001 in all): open, pinned, not cycled yet.
      assert.deepEqual(pinned(h), [1, 1, 1]);
      // 100 RPCs per connection exactly: each client cycled 20 connections.
      assert.equal(h.proxy.connectionsCycled, 60);
      assert.equal(h.proxy.connectionsAccepted, 63);
      for (const p of h.pods) assert.ok(p.stats.rpcs >= 1000, `${p.stats.name} served only ${p.stats.rpcs} RPCs`);
    });

    test("connection stickiness: without maxRequestsPerConnection the 3 clients stay on pod 1 (3/0/0) after 2,000 RPCs each", async (t) => {
      const { h, cs } = await story(t, transport, "");
      assert.deepEqual(await sequential(cs, RPCS_PER_CLIENT), []);
      assert.deepEqual(pinned(h), [3, 0, 0]);
      assert.deepEqual(
        h.pods.map((p) => p.stats.rpcs),
        [3 * (RPCS_PER_CLIENT + 1), 0, 0],
      );
      assert.equal(h.proxy.connectionsCycled, 0);
      assert.equal(h.proxy.connectionsAccepted, 3);
    });
  });
