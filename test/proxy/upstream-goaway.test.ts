// A backend's GOAWAY retires an upstream connection, on each transport: the connection takes
// no new stream, no longer counts against tcp.maxConnections, and closes once its streams
// are done even when the backend never closes its side, as node:http2 (so grpc-js) does after
// a GOAWAY nghttp2 sent on its own (after ~1,000 cancelled streams). Before, the proxy
// half-closed such a connection and kept it in FIN-WAIT-2 for ever, counted as live: with
// tcp.maxConnections 2, every RPC after the second GOAWAY waited for a connection that would
// never come, while /clusters showed the endpoint READY.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ClusterView } from "../../src/admin/clusters-view.js";
import { callUnary } from "../../src/demo/echo-client.js";
import { withAdmin } from "../support/admin.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyInFront } from "../support/proxy-with-pods.js";
import { describeSockets, heldTcpSockets, untilNoneHeld } from "../support/sockets.js";
import { defer, type Owner } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

/** GOAWAYs in a row: many times tcp.maxConnections. */
const CYCLES = 12;
const MAX_CONNECTIONS = 2;
/** Each RPC's deadline: one that waited on a retired connection failed at it. */
const RPC_DEADLINE_MS = 5000;
/** How long the proxy may take to let go of a retired connection: close-after-fin.ts's linger, and room. */
const RELEASE_BOUND_MS = 20_000;

interface GoawayBackend {
  readonly port: number;
  /** GOAWAYs sent: one per RPC. */
  goaways: number;
}

/**
 * A gRPC backend on node:http2 that answers each unary call by echoing its message, after a
 * GOAWAY NO_ERROR naming that call's stream as the last it takes (so the proxy retires the
 * connection before it sees the answer), and never closes a connection itself.
 */
async function goawayBackend(owner: Owner): Promise<GoawayBackend> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  const backend = { port: 0, goaways: 0 };
  server.on("session", (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => undefined);
  });
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => undefined);
    stream.on("end", () => {
      stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
      backend.goaways++;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.concat(chunks)); // the request's length-prefixed message, as the answer
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  backend.port = (server.address() as AddressInfo).port;
  defer(owner, async () => {
    for (const s of sessions) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return backend;
}

describe("a backend's GOAWAY retires the upstream connection", () => {
  for (const transport of TEST_TRANSPORTS) {
    test(`${transport}: ${CYCLES} GOAWAYs with tcp.maxConnections ${MAX_CONNECTIONS}: every RPC succeeds, no socket stays, /clusters counts draining connections`, async (t) => {
      const backend = await goawayBackend(t);
      const p = await proxyInFront(t, [backend], {
        config: (ports) => [
          listenerYaml("  admin: 127.0.0.1:0\n", transport),
          serviceEntryYaml("echo", ports),
          destinationRuleYaml("echo", `    connectionPool: { tcp: { maxConnections: ${MAX_CONNECTIONS} } }`),
        ],
        start: withAdmin(),
      });
      const endpointView = async (): Promise<ClusterView["endpoints"][number]> => {
        const { clusters } = JSON.parse((await p.get("/clusters")).body) as { clusters: ClusterView[] };
        return clusters[0]!.endpoints[0]!;
      };
      const upstream = (s: { remotePort: number }): boolean => s.remotePort === backend.port;

      for (let i = 1; i <= CYCLES; i++) {
        const r = await callUnary(p.client, Buffer.from(`rpc ${i}`), undefined, { deadline: Date.now() + RPC_DEADLINE_MS });
        assert.deepEqual(
          [r.code, r.details, r.response?.toString()],
          [0, "", `rpc ${i}`],
          `RPC ${i} of ${CYCLES}; the proxy holds ${describeSockets(heldTcpSockets().filter(upstream))} to the backend`,
        );
        // The connection it took is retired: counted as draining, none takes streams, so not READY.
        const e = await endpointView();
        assert.ok(e.drainingConnections >= 1, `after RPC ${i}: ${JSON.stringify(e)}`);
        assert.deepEqual([e.state, e.connections - e.drainingConnections], ["IDLE", 0], `after RPC ${i}: ${JSON.stringify(e)}`);
      }
      assert.equal(backend.goaways, CYCLES);

      // Each retired connection closed although the backend never closed its side.
      const held = await untilNoneHeld(upstream, RELEASE_BOUND_MS);
      assert.deepEqual(held, [], `the proxy still holds ${describeSockets(held)} to the backend`);
      const e = await endpointView();
      assert.deepEqual([e.connections, e.drainingConnections, e.connectionsOpened], [0, 0, CYCLES]);
    });
  }
});
