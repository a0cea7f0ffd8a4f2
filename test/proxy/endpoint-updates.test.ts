// The endpoint set changing under RPCs (discovery pushes a new set, a pod leaves): a request
// waiting for a connection, a retry and a pinned connection all follow the new set, none is
// lost and nothing goes back to an endpoint that left.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import net, { type AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { ManualEndpointSource } from "../../src/discovery/manual.js";
import type { EndpointSource, ResolvedEndpoint } from "../../src/discovery/types.js";
import { listenerYaml, retriesYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyInFront, proxyWithPods } from "../support/proxy-with-pods.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const at = (port: number): ResolvedEndpoint => ({ address: "127.0.0.1", port, weight: 1, labels: {} });

/** A TCP listener that accepts and never speaks HTTP/2: a connection to it never becomes ready. */
async function silentListener(): Promise<{ port: number; accepted: Promise<unknown>; close(): void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: once(server, "connection"),
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    for (const mode of ["request", "connection"] as const) {
      test(`${mode} mode: a request waiting for a connection when its endpoint is replaced goes to the new endpoint`, async (t) => {
        const silent = await silentListener();
        defer(t, () => silent.close());
        const source = new ManualEndpointSource([at(silent.port)]);
        const { client, pods } = await proxyWithPods(t, {
          config: () => [listenerYaml(`  mode: ${mode}\n`, transport), serviceEntryYaml("echo", [silent.port])],
          deps: { endpointSource: () => source },
        });
        const call = callUnary(client, Buffer.from("waiting"));
        await silent.accepted; // the proxy is connecting there, the request waits
        source.set([at(pods[0]!.port)]);
        const r = await call;
        assert.equal(r.code, grpc.status.OK, r.details);
        assert.equal(pods[0]!.stats.rpcs, 1);
      });
    }

    for (const mode of ["request", "connection"] as const) {
      // The endpoint's pool retires: the requests it fails were never sent, and replay whatever the route's retry policy.
      test(`${mode} mode, retries off: 20 requests waiting on an endpoint that leaves are all replayed on the one that replaces it`, async (t) => {
        const silent = await silentListener();
        defer(t, () => silent.close());
        const source = new ManualEndpointSource([at(silent.port)]);
        const h = await proxyWithPods(t, {
          config: () => [listenerYaml(`  mode: ${mode}\n`, transport), serviceEntryYaml("echo", [silent.port]), retriesYaml("echo", "{ attempts: 0 }")],
          deps: { endpointSource: () => source },
        });
        // Five clients (connections), four RPCs each, all waiting for the one connect to the silent endpoint.
        const cs = [h.client, ...Array.from({ length: 4 }, () => h.newClient())];
        const calls = cs.flatMap((c) => Array.from({ length: 4 }, (_, i) => callUnary(c, Buffer.alloc(1000 * (i + 1), i))));
        await silent.accepted;
        for (let turn = 0; h.cluster().pending.count < 20; turn++) {
          assert.ok(turn < 100_000, `only ${h.cluster().pending.count} requests waiting`);
          await new Promise((resolve) => setImmediate(resolve));
        }
        source.set([at(h.pods[0]!.port)]);
        const results = await Promise.all(calls);
        assert.deepEqual(
          results.filter((r) => r.code !== Number(grpc.status.OK)).map((r) => r.details),
          [],
        );
        assert.equal(h.pods[0]!.stats.rpcs, 20);
        assert.equal(h.cluster().stats.retry.transparent, 20, "each replayed once, as a request never sent");
      });
    }

    test("connection mode: a retry whose pinned endpoint left the cluster meanwhile goes to one still in it", async (t) => {
      const [good, leaving] = await scriptedPods(t, 2);
      const source = new ManualEndpointSource([at(leaving!.port)]);
      // The pinned backend removes itself from the cluster, then fails the call (trailers-only).
      leaving!.script = (call) => {
        source.set([at(good!.port)]);
        call.fail(grpc.status.UNAVAILABLE, "leaving");
      };
      const h = await proxyInFront(t, [leaving!], {
        config: (ports) => [listenerYaml("  mode: connection\n", transport), serviceEntryYaml("echo", ports)],
        deps: { endpointSource: () => source },
      });
      const r = await callUnary(h.client, Buffer.from("x"));
      assert.equal(r.code, grpc.status.OK, r.details);
      assert.equal(leaving!.calls, 1, "the retry did not go back to the endpoint that left");
      assert.equal(good!.stats.rpcs, 1);
      assert.deepEqual(
        h
          .cluster()
          .endpointList()
          .map((e) => e.port),
        [good!.port],
      );
    });

    test("connection mode: a connection pinned to an endpoint that leaves the cluster is balanced again", async (t) => {
      // An endpoint source the test controls, in place of the ServiceEntry's static one.
      let push: (eps: readonly ResolvedEndpoint[]) => void = () => undefined;
      const h = await proxyWithPods(t, {
        pods: 2,
        config: (ports) => [listenerYaml("  mode: connection", transport), serviceEntryYaml("echo", ports)],
        deps: (pods) => {
          const source: EndpointSource = {
            start: (onUpdate) => {
              push = onUpdate;
              onUpdate(pods.map((p) => at(p.port)));
            },
            stop: () => undefined,
          };
          return { endpointSource: () => source };
        },
      });
      const first = await callUnary(h.client, Buffer.from("x"));
      const pinned = String(first.headers?.get("x-pod")[0]);
      const other = h.pods.find((p) => p.stats.name !== pinned)!;
      push([at(other.port)]);
      for (let i = 0; i < 5; i++) {
        const r = await callUnary(h.client, Buffer.from("x"));
        assert.equal(String(r.headers?.get("x-pod")[0]), other.stats.name);
      }
      assert.deepEqual(
        h
          .cluster()
          .endpointList()
          .map((e) => e.load.activeConnections),
        [1],
      );
    });
  });
