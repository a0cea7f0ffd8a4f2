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
import { BACKOFF } from "../../src/core/backoff.js";
import { ManualClock } from "../../src/core/clock.js";
import { seededRandom } from "../../src/core/random.js";
import { callUnary } from "../../src/demo/echo-client.js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { ManualEndpointSource } from "../../src/discovery/manual.js";
import type { ResolvedEndpoint } from "../../src/discovery/types.js";
import { bidi, drive } from "../support/calls.js";
import { deadPort, destinationRuleYaml, listenerYaml, retriesYaml, serviceEntryYaml, type Pod } from "../support/cluster.js";
import { proxyWithPods, type ProxyWithPods } from "../support/proxy-with-pods.js";
import { stopPods } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const RPCS_PER_CLIENT = 2000;
/** A deadline no RPC comes near unless it is lost (then the test fails instead of waiting forever). */
const RPC_DEADLINE_MS = 20_000;
const withDeadline = (): grpc.CallOptions => ({ deadline: Date.now() + RPC_DEADLINE_MS });

const NO_RETRIES = retriesYaml("echo", "{ attempts: 0 }");

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
 * `sequential` for tests whose proxy runs on a manual clock, where a retry's backoff would
 * wait forever: each RPC has a deadline of its own (the client's timer, in real time), and
 * each client stops at its first failure.
 */
async function sequentialWithDeadline(cs: readonly grpc.Client[], n: number): Promise<string[]> {
  const failures: string[] = [];
  await Promise.all(
    cs.map(async (c, ci) => {
      for (let i = 0; i < n; i++) {
        const r = await callUnary(c, Buffer.from("x"), undefined, { deadline: Date.now() + RPC_DEADLINE_MS });
        if (r.code === 0) continue;
        failures.push(`client ${ci + 1} RPC ${i + 1}: ${r.code} ${r.details}`);
        return;
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

    test("the story with pods 2 and 3 in the cluster before they are up: every connection pinned to them moves, no RPC fails; once up they take their share", async (t) => {
      // Pods 2 and 3 come up later on these ports; stopped after the proxy (deferred before it).
      const late: Pod[] = [];
      defer(t, () => stopPods(late));
      const latePorts = [await deadPort(), await deadPort()];
      const clock = new ManualClock();
      let source: ManualEndpointSource | undefined;
      const h = await proxyWithPods(t, {
        pods: 1,
        config: (ports) => [listenerYaml("  mode: connection", transport), serviceEntryYaml("echo", ports), leastConn(maxRequestsPerConnection(100))],
        deps: (pods) => {
          source = new ManualEndpointSource([endpointOf(pods[0]!)]);
          return { endpointSource: () => source!, clock };
        },
      });
      const cs = [h.client, h.newClient(), h.newClient()];
      assert.deepEqual(await sequentialWithDeadline(cs, 1), []);
      const lateEndpoints = latePorts.map((port): ResolvedEndpoint => ({ address: "127.0.0.1", port, weight: 1, labels: {} }));
      source!.set([endpointOf(h.pods[0]!), ...lateEndpoints]);
      // Each reconnection is pinned by LEAST_CONN to pod 2 or 3 (no connection there yet),
      // which refuses it: the connection moves to pod 1, its RPC with it.
      assert.deepEqual(await sequentialWithDeadline(cs, 300), []);
      const moves = h.cluster().stats.pinMoves;
      assert.ok(moves.unreachable >= 2, `pins moved off the pods not up yet: ${JSON.stringify(moves)}`);
      assert.equal(h.pods[0]!.stats.rpcs, 3 * 301, "pod 1 served every RPC while the others were down");
      // The pods come up; the backoff of their failed connects ends (time is the test's).
      for (const [i, port] of latePorts.entries()) late.push(await startEchoServer(`pod-${i + 2}`, "127.0.0.1", port));
      clock.advance(BACKOFF.INITIAL_MS);
      assert.deepEqual(await sequentialWithDeadline(cs, 300), []);
      for (const p of late) assert.ok(p.stats.rpcs >= 100, `${p.stats.name} served only ${p.stats.rpcs} RPCs once up`);
    });

    for (const retries of ["Istio's default retries", "retries off"] as const)
      test(`${retries}: a connection pinned to a pod that goes away moves to another pod: no RPC fails, and the pod is not tried again while it backs off`, async (t) => {
        const clock = new ManualClock();
        const h = await proxyWithPods(t, {
          pods: 2,
          config: (ports) => [
            listenerYaml("  mode: connection", transport),
            serviceEntryYaml("echo", ports),
            leastConn(),
            ...(retries === "retries off" ? [NO_RETRIES] : []),
          ],
          deps: { clock },
        });
        const podOf = (r: { headers?: grpc.Metadata | undefined }): string => String(r.headers?.get("x-pod")[0]);
        const first = await callUnary(h.client, Buffer.from("x"), undefined, withDeadline());
        assert.equal(first.code, 0);
        const gone = h.pods.find((p) => p.stats.name === podOf(first))!;
        const other = h.pods.find((p) => p !== gone)!;
        // A second connection, pinned to the other pod by LEAST_CONN; then a third one pinned to
        // the first pod (LEAST_CONN breaks the tie at random: a fourth goes there if the third did not).
        assert.equal(podOf(await callUnary(h.newClient(), Buffer.from("x"), undefined, withDeadline())), other.stats.name);
        let third = h.newClient();
        if (podOf(await callUnary(third, Buffer.from("x"), undefined, withDeadline())) !== gone.stats.name) {
          third = h.newClient();
          assert.equal(podOf(await callUnary(third, Buffer.from("x"), undefined, withDeadline())), gone.stats.name);
        }
        // The pod goes away (still in the cluster): once the proxy saw its connection close...
        const cluster = h.cluster();
        const endpoint = cluster.endpointList().find((e) => e.port === gone.port)!;
        const idle = new Promise<void>((resolve) => {
          const onState = (key: string, state: string): void => {
            if (key !== endpoint.key || state !== "IDLE") return;
            cluster.events.off("endpoint-state", onState);
            resolve();
          };
          cluster.events.on("endpoint-state", onState);
        });
        gone.server.forceShutdown();
        await idle;
        // ...the first connection's next RPC fails to connect before anything was sent: it moves.
        const moved = await callUnary(h.client, Buffer.from("x"), undefined, withDeadline());
        assert.equal(moved.code, 0, moved.details);
        assert.equal(podOf(moved), other.stats.name);
        const opened = cluster.existingPool(endpoint.key)!.connectionsOpened;
        // The third connection, pinned there too, moves without trying: the pod is backing off.
        const skipped = await callUnary(third, Buffer.from("x"), undefined, withDeadline());
        assert.equal(skipped.code, 0, skipped.details);
        assert.equal(podOf(skipped), other.stats.name);
        assert.equal(cluster.existingPool(endpoint.key)!.connectionsOpened, opened, "no connect to the pod backing off");
        assert.deepEqual(cluster.stats.pinMoves, { left: 0, excluded: 0, unreachable: 2 });
        assert.equal(endpoint.load.activeConnections, 0, "no connection is pinned to the pod gone");
      });
  });
