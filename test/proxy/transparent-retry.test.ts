// A stream the backend refused before processing it (RST_STREAM REFUSED_STREAM, or above a
// GOAWAY's last-stream-id) is retried on another connection with the request replayed, and
// never reaches the client as an error; once the backend has answered, it is not retried.
// The refusing backends are node:http2 servers doing exactly that on the wire.
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { deadPort, destinationRuleYaml, listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods, type ProxyWithPods } from "../support/proxy-with-pods.js";
import { defer } from "../support/teardown.js";
import { H2Code } from "../../src/transport/types.js";
import { PoolState } from "../../src/upstream/endpoint-pool.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { startH2Server } from "../transport/h2/support.js";

interface Backend {
  readonly port: number;
  /** Streams it saw, and the request bytes each carried. */
  readonly seen: number[];
}

/** A backend that treats every stream with `onStream` once the request is complete; closed when `t` ends. */
async function backend(t: TestContext, onStream: (stream: http2.ServerHttp2Stream) => void, bodies?: Map<http2.ServerHttp2Stream, Buffer>): Promise<Backend> {
  const seen: number[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream) => {
    let bytes = 0;
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => {
      bytes += c.length;
      chunks.push(c);
    });
    stream.on("error", () => undefined);
    stream.on("end", () => {
      seen.push(bytes);
      bodies?.set(stream, Buffer.concat(chunks));
      onStream(stream);
    });
  });
  server.on("sessionError", () => undefined);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  defer(
    t,
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        // Sessions left open would keep close() waiting.
        for (const s of sessions) s.destroy();
      }),
  );
  return { port: (server.address() as AddressInfo).port, seen };
}

const ROUND_ROBIN = destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }");

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    /** A proxy with `backend` first in the ServiceEntry, then `pods` echo pods; `docs` after. */
    const behind = (t: TestContext, backend: number, pods: number, docs: readonly string[] = [ROUND_ROBIN]): Promise<ProxyWithPods> =>
      proxyWithPods(t, { pods, config: (ports) => [listenerYaml("", transport), serviceEntryYaml("echo", [backend, ...ports]), ...docs] });

    test("RST_STREAM REFUSED_STREAM: every RPC succeeds, the whole request replayed elsewhere", async (t) => {
      const refuser = await backend(t, (s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM));
      const { client, pods } = await behind(t, refuser.port, 1);
      const big = Buffer.alloc(60_000, 7); // several DATA frames, all of them replayed (within the 64 KiB retry buffer)
      for (let i = 0; i < 6; i++) {
        const request = i % 2 === 0 ? Buffer.from(`small-${i}`) : big;
        const r = await callUnary(client, request);
        assert.equal(r.code, grpc.status.OK, r.details);
        assert.deepEqual(r.response, request);
      }
      assert.ok(refuser.seen.length >= 3, `the refuser saw ${refuser.seen.length} streams`);
      assert.ok(refuser.seen.includes(60_005), "a refused stream had carried the whole large request");
      assert.equal(pods[0]!.stats.rpcs, 6);
    });

    test("an endpoint that refuses connections: its requests go to another endpoint, and then none are sent there", async (t) => {
      const refusing = await deadPort();
      const h = await behind(t, refusing, 1);
      for (let i = 0; i < 6; i++) {
        const r = await callUnary(h.client, Buffer.from(`dead-${i}`));
        assert.equal(r.code, grpc.status.OK, r.details);
      }
      assert.equal(h.pods[0]!.stats.rpcs, 6);
      const cluster = h.cluster();
      const dead = cluster.endpointList().find((e) => e.port === refusing)!;
      assert.equal(cluster.pool(dead).state, PoolState.TRANSIENT_FAILURE);
    });

    test("default balancer (LEAST_REQUEST), one endpoint refusing connections, 20 RPCs at a time: none fails", async (t) => {
      // The dead endpoint has no requests in flight, so a least-request pick prefers it: it
      // must be left out of the picks while it backs off, not merely picked again.
      const { client } = await behind(t, await deadPort(), 1, []);
      const failures: string[] = [];
      for (let round = 0; round < 10; round++) {
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => callUnary(client, Buffer.from(`r${round}-${i}`))));
        for (const r of results) if (r.code !== Number(grpc.status.OK)) failures.push(r.details);
      }
      assert.deepEqual(failures, []);
    });

    test("GOAWAY with a last-stream-id below a stream in flight: that stream is retried, not failed", async (t) => {
      // The first connection holds its first stream until a second one arrives, then sends
      // GOAWAY naming the first as the last it processes and answers it; the second is
      // refused by that GOAWAY. Later connections answer everything.
      let sessionsSeen = 0;
      let held: http2.ServerHttp2Stream | undefined;
      const echo = (s: http2.ServerHttp2Stream, body: Buffer): void => {
        s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        s.once("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        s.end(body);
      };
      const bodies = new Map<http2.ServerHttp2Stream, Buffer>();
      const goaway = await backend(
        t,
        (s) => {
          const session = s.session! as http2.ServerHttp2Session & { seq?: number };
          session.seq ??= ++sessionsSeen;
          if (session.seq > 1) return echo(s, bodies.get(s)!);
          if (held === undefined) {
            held = s;
            return;
          }
          session.goaway(http2.constants.NGHTTP2_NO_ERROR, held.id);
          echo(held, bodies.get(held)!);
        },
        bodies,
      );
      const { client } = await behind(t, goaway.port, 0, []);
      const results = await Promise.all([callUnary(client, Buffer.from("first")), callUnary(client, Buffer.from("second"))]);
      for (const r of results) assert.equal(r.code, grpc.status.OK, r.details);
      assert.deepEqual(
        results.map((r) => r.response?.toString()),
        ["first", "second"],
      );
      assert.equal(sessionsSeen, 2, "the refused stream went out again on a new connection");
      assert.equal(goaway.seen.length, 3);
    });

    test("refused after the response began: the client gets UNAVAILABLE, no second attempt", async (t) => {
      // sluice's own HTTP/2 server as the backend: node:http2 cannot reset a stream after
      // response headers without ending it first.
      let answered = 0;
      const late = await startH2Server({}, () => ({
        onConnection: () => undefined,
        onConnectionClose: () => undefined,
        onStream: (stream) => {
          const done = (): void => {
            answered++;
            stream.respond({ ":status": "200", "content-type": "application/grpc" }, false);
            stream.write(Buffer.from([0, 0, 0, 0, 0]));
            stream.reset(H2Code.REFUSED_STREAM);
          };
          stream.attach({
            onHeaders: () => undefined,
            onData: () => undefined,
            onTrailers: done,
            onEnd: done,
            onReset: () => undefined,
            onDrain: () => undefined,
          });
        },
      }));
      defer(t, () => late.close());
      const { client, pods } = await behind(t, late.port, 1);
      let failed = 0;
      for (let i = 0; i < 4; i++) {
        const r = await callUnary(client, Buffer.from(`late-${i}`));
        if (r.code !== Number(grpc.status.OK)) {
          failed++;
          assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
        }
      }
      assert.ok(failed > 0);
      assert.equal(failed, answered, "each stream the backend answered failed, none was retried");
      assert.equal(pods[0]!.stats.rpcs + failed, 4);
    });
  });
