// max_requests_per_connection with real grpc-js servers and clients on loopback: the server
// counts calls per client connection (the peer's address:port), which is how cycling shows.
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import net, { type AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { echoService } from "../../src/demo/echo-service.js";
import { MAX_REQUESTS_PER_CONNECTION_POLICY, registerMaxRequestsPerConnection } from "../../src/client/cycling-policy.js";
import { registerSluiceOutlier, SLUICE_CLOCK_OPTION, SLUICE_OUTLIER_POLICY } from "../../src/client/outlier-policy.js";
import { ManualClock } from "../../src/core/clock.js";
import { Status } from "../../src/core/status.js";
import { scriptedPods, type Script, type ScriptedPod } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { callTimes, failing, ipv4Target, policyClient, rpcs, warmUp } from "./support.js";

registerMaxRequestsPerConnection();
registerMaxRequestsPerConnection(); // idempotent
registerSluiceOutlier();

function cycling(max: number, child: object = { round_robin: {} }): object {
  return { [MAX_REQUESTS_PER_CONNECTION_POLICY]: { maxRequestsPerConnection: max, childPolicy: [child] } };
}

/** An echo pod that counts calls per client connection, in order of first call; it stops when `t` ends. */
async function countingPod(t: TestContext): Promise<{ pod: ScriptedPod; perConnection: Map<string, number> }> {
  const perConnection = new Map<string, number>();
  const count: Script = (call) => {
    perConnection.set(call.peer, (perConnection.get(call.peer) ?? 0) + 1);
    call.echo();
  };
  const [pod] = await scriptedPods(t, [count]);
  return { pod: pod!, perConnection };
}

const identity = (b: Buffer): Buffer => b;

/** A TCP forwarder to 127.0.0.1:`to` that can stop accepting while its open connections go on. */
async function tcpForwarder(to: number): Promise<{ port: number; stopAccepting(): void; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(to, "127.0.0.1");
    for (const s of [down, up]) {
      sockets.add(s);
      s.on("error", () => {
        down.destroy();
        up.destroy();
      });
      s.on("close", () => sockets.delete(s));
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stopAccepting: () => server.close(),
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

describe("max_requests_per_connection", () => {
  for (const child of [{ round_robin: {} }, { pick_first: {} }]) {
    test(`${Object.keys(child)[0]} child, N=10: 100 sequential calls use about 10 connections, none fails, none gets fewer than 10 calls`, async (t) => {
      const { pod, perConnection } = await countingPod(t);
      const client = policyClient(t, ipv4Target([pod]), cycling(10, child));
      const results = await callTimes(client, 100);
      assert.deepEqual(
        results.filter((r) => r.code !== Status.OK),
        [],
      );
      const counts = [...perConnection.values()];
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        100,
      );
      // A connection takes new calls until its successor is READY, so a few more than 10.
      assert.ok(counts.length >= 5 && counts.length <= 10, `connections: ${counts.join(", ")}`);
      assert.ok(
        counts.slice(0, -1).every((n) => n >= 10),
        `a connection was left before its 10th call: ${counts.join(", ")}`,
      );
      assert.equal(pod.stats.peers.size, counts.length);
    });
  }

  test("maxRequestsPerConnection 0 never cycles (Istio's unlimited)", async (t) => {
    const { pod, perConnection } = await countingPod(t);
    const client = policyClient(t, ipv4Target([pod]), cycling(0));
    await callTimes(client, 50);
    assert.deepEqual([...perConnection.values()], [50]);
  });

  test("20 streams in flight when the limit is reached finish on the old connection while new calls move to a new one; nothing fails", async (t) => {
    const { pod, perConnection } = await countingPod(t);
    const client = policyClient(t, ipv4Target([pod]), cycling(10));
    // 20 bidi streams, each echoing one message, then held open: the 10th starts the cycle.
    const streams = Array.from({ length: 20 }, () => client.makeBidiStreamRequest(echoService.bidi.path, identity, identity, new grpc.Metadata(), {}));
    defer(t, () => {
      for (const s of streams) s.cancel(); // after a failed assertion: lets the server stop
    });
    const statuses = streams.map(
      (s) =>
        new Promise<number>((resolve) => {
          s.on("error", () => {
            // The status event carries the outcome.
          });
          s.on("status", (st: grpc.StatusObject) => resolve(st.code));
        }),
    );
    const echoed = streams.map((s, i) => {
      const got = new Promise<Buffer>((resolve) => s.once("data", resolve));
      s.write(Buffer.from(`stream ${i}`));
      return got;
    });
    assert.deepEqual(
      (await Promise.all(echoed)).map((b) => b.toString()),
      streams.map((_, i) => `stream ${i}`),
    );
    assert.equal(pod.stats.active, 20);
    const firstConnection = [...perConnection.keys()];
    assert.equal(firstConnection.length, 1, "all 20 streams started on the first connection");

    // New calls move to a new connection once it is READY (calls until the server sees it,
    // rather than a guess at how long connecting takes); the streams stay where they are.
    for (let i = 0; i < 500 && perConnection.size < 2; i++) {
      assert.equal((await callUnary(client, Buffer.from(`call ${i}`))).code, Status.OK);
    }
    assert.equal(perConnection.size, 2, `connections: ${[...perConnection.values()].join(", ")}`);
    assert.equal(pod.stats.active, 20, "the streams are still open");

    // The old connection still carries them to the end.
    const more = streams.map((s, i) => {
      const got = new Promise<Buffer>((resolve) => s.once("data", resolve));
      s.write(Buffer.from(`again ${i}`));
      return got;
    });
    assert.deepEqual(
      (await Promise.all(more)).map((b) => b.toString()),
      streams.map((_, i) => `again ${i}`),
    );
    for (const s of streams) s.end();
    assert.deepEqual(await Promise.all(statuses), new Array<number>(20).fill(Status.OK));
    assert.equal((await callUnary(client, Buffer.from("after"))).code, Status.OK);
  });

  test("while the new connection cannot be made, calls keep going to the old one (no call waits or fails)", async (t) => {
    const { pod, perConnection } = await countingPod(t);
    const front = await tcpForwarder(pod.port);
    defer(t, () => front.close());
    const client = policyClient(t, ipv4Target([front]), cycling(5));
    assert.equal((await callUnary(client, Buffer.from("first"))).code, Status.OK);
    // New connections are refused from now on; the open one stays.
    front.stopAccepting();
    const results = await callTimes(client, 20, undefined, { deadline: Date.now() + 5000 });
    assert.deepEqual(
      results.map((r) => r.code),
      new Array<number>(20).fill(Status.OK),
    );
    assert.deepEqual([...perConnection.values()], [21]);
  });

  test("composes with sluice_outlier: outlier over cycling over round_robin ejects a failing pod and keeps cycling the others", async (t) => {
    const pods = await scriptedPods(t, 3);
    const lb = {
      [SLUICE_OUTLIER_POLICY]: { maxEjectionPercent: 100, childPolicy: [cycling(4)] },
    };
    const client = policyClient(t, ipv4Target(pods), lb, { [SLUICE_CLOCK_OPTION]: new ManualClock() });
    await warmUp(client, pods);
    pods[0]!.script = failing;
    await callTimes(client, 15); // pod-1's 5th failure ejects it
    const ejectedAt = rpcs(pods);
    const results = await callTimes(client, 40);
    assert.ok(results.every((r) => r.code === Status.OK));
    assert.equal(pods[0]!.stats.rpcs, ejectedAt[0]);
    assert.ok(pods[1]!.stats.peers.size >= 3, `pod-2 connections: ${pods[1]!.stats.peers.size}`);
  });
});

describe("max_requests_per_connection config", () => {
  const parse = (c: unknown): grpc.experimental.TypedLoadBalancingConfig =>
    grpc.experimental.parseLoadBalancingConfig({ [MAX_REQUESTS_PER_CONNECTION_POLICY]: c } as Parameters<typeof grpc.experimental.parseLoadBalancingConfig>[0]);

  test("round trip", () => {
    const json = parse({ maxRequestsPerConnection: 7, childPolicy: [{ round_robin: {} }] }).toJsonObject();
    assert.deepEqual(json, { max_requests_per_connection: { maxRequestsPerConnection: 7, childPolicy: [{ round_robin: {} }] } });
  });

  test("a bad config is rejected with every problem named", () => {
    assert.throws(
      () => parse({ maxRequestsPerConnection: "ten", child_policy: [] }),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, /maxRequestsPerConnection must be an integer in 0\.\.2147483647, got "ten"/);
        assert.match(e.message, /unknown field "child_policy" \(use "childPolicy": service config JSON names are camelCase\)/);
        assert.match(e.message, /childPolicy is required/);
        return true;
      },
    );
    assert.throws(() => parse({ childPolicy: [{ round_robin: {} }] }), /maxRequestsPerConnection is required/);
    assert.throws(() => parse({ maxRequestsPerConnection: 1.5, childPolicy: [{ round_robin: {} }] }), /got 1.5/);
  });
});
