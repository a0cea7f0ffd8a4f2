// Races between retries and the endpoint set or the backend's stream, found in review: each
// would lose an RPC or crash the proxy.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { Cluster } from "../../src/config/types.js";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { echoService } from "../../src/demo/echo-service.js";
import { ManualEndpointSource } from "../../src/discovery/manual.js";
import type { ResolvedEndpoint } from "../../src/discovery/types.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml, startPods, startProxy } from "../support/cluster.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const CLUSTER = "echo|50051|";
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
      test(`${mode} mode: a request waiting for a connection when its endpoint is replaced goes to the new endpoint`, async () => {
        const silent = await silentListener();
        const [pod] = await startPods(1);
        const source = new ManualEndpointSource([at(silent.port)]);
        const proxy = await startProxy([listenerYaml(`  mode: ${mode}\n`, transport), serviceEntryYaml("echo", [silent.port])].join("\n---\n"), {
          endpointSource: () => source,
        });
        const client = echoClient(proxy.target, { "grpc.default_authority": "echo" });
        try {
          const call = callUnary(client, Buffer.from("waiting"));
          await silent.accepted; // the proxy is connecting there, the request waits
          source.set([at(pod!.port)]);
          const r = await call;
          assert.equal(r.code, grpc.status.OK, r.details);
          assert.equal(pod!.stats.rpcs, 1);
        } finally {
          client.close();
          await proxy.stop();
          silent.close();
          await pod!.stop();
        }
      });
    }

    test("a non-200 answer with a body, retried (503, Istio's default): the old stream's bytes never reach the client", async () => {
      // A backend that is not gRPC at all: 503 with a short text body, as a sidecar or gateway might.
      const bad = http2.createServer();
      let badCalls = 0;
      bad.on("stream", (stream) => {
        badCalls++;
        stream.on("error", () => undefined);
        stream.respond({ ":status": 503, "content-type": "text/plain" });
        stream.end("oops");
      });
      await new Promise<void>((r) => bad.listen(0, "127.0.0.1", r));
      const badPort = (bad.address() as AddressInfo).port;
      const [pod] = await startPods(1);
      const proxy = await startProxy(
        [
          listenerYaml("", transport),
          serviceEntryYaml("echo", [badPort, pod!.port]),
          destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }"),
        ].join("\n---\n"),
      );
      const client = echoClient(proxy.target, { "grpc.default_authority": "echo" });
      try {
        for (let i = 0; i < 6; i++) {
          const request = Buffer.from(`rpc-${i}`);
          const r = await callUnary(client, request);
          assert.equal(r.code, grpc.status.OK, r.details);
          assert.deepEqual(r.response, request);
        }
        assert.ok(badCalls >= 2, `the 503 backend saw ${badCalls} calls`);
        assert.equal(proxy.proxy.cluster(CLUSTER)!.retryStats.retries, badCalls);
      } finally {
        client.close();
        await proxy.stop();
        await pod!.stop();
        bad.close();
      }
    });

    test("connection mode: a retry whose pinned endpoint left the cluster meanwhile goes to one still in it", async () => {
      const [good] = await startPods(1);
      const source = new ManualEndpointSource([]);
      let leavingCalls = 0;
      // The pinned backend removes itself from the cluster, then fails the call (trailers-only).
      const leaving = new grpc.Server();
      leaving.addService(echoService, {
        unary: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
          leavingCalls++;
          source.set([at(good!.port)]);
          cb({ code: grpc.status.UNAVAILABLE, details: "leaving" });
        },
      });
      const leavingPort = await new Promise<number>((resolve, reject) =>
        leaving.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
      );
      source.set([at(leavingPort)]);
      const proxy = await startProxy([listenerYaml("  mode: connection\n", transport), serviceEntryYaml("echo", [leavingPort])].join("\n---\n"), {
        endpointSource: (_c: Cluster) => source,
      });
      const client = echoClient(proxy.target, { "grpc.default_authority": "echo" });
      try {
        const r = await callUnary(client, Buffer.from("x"));
        assert.equal(r.code, grpc.status.OK, r.details);
        assert.equal(leavingCalls, 1, "the retry did not go back to the endpoint that left");
        assert.equal(good!.stats.rpcs, 1);
        const cluster = proxy.proxy.cluster(CLUSTER)!;
        assert.deepEqual(
          cluster.endpointList().map((e) => e.port),
          [good!.port],
        );
      } finally {
        client.close();
        await proxy.stop();
        await good!.stop();
        await new Promise<void>((r) => leaving.tryShutdown(() => r()));
      }
    });
  });
