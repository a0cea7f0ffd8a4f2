// Every way an RPC can fail gives the client a proper gRPC status, and the proxy stays up.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { callServerStream, callUnary, echoClient } from "../../src/demo/echo-client.js";
import { echoService } from "../../src/demo/echo-service.js";
import { deadPort, listenerYaml, md, serviceEntryYaml } from "../support/cluster.js";
import { clientFor } from "../support/calls.js";
import { proxyWithPods, type ProxyWithPods } from "../support/proxy-with-pods.js";
import { defer, Teardown } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

/** A raw HTTP/2 request, so the proxy (not the client library) is what enforces things. */
function rawRequest(
  target: string,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${target}`);
    session.on("error", reject);
    const req = session.request(headers);
    let resHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      resHeaders = h;
    });
    req.on("trailers", (t: http2.IncomingHttpHeaders) => {
      trailers = t;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("close", () => {
      session.close();
      resolve({ headers: resHeaders, trailers, body: Buffer.concat(chunks) });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Request headers of a unary echo call to host "echo", plus `extra`. */
function echoHeaders(extra: http2.OutgoingHttpHeaders): http2.OutgoingHttpHeaders {
  return {
    ":method": "POST",
    ":path": echoService.unary.path,
    ":authority": "echo",
    "content-type": "application/grpc",
    te: "trailers",
    ...extra,
  };
}

function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    describe("local failures", () => {
      const suite = new Teardown();
      after(() => suite.run());
      let h: ProxyWithPods;

      before(async () => {
        const dead = await deadPort();
        h = await proxyWithPods(suite, {
          config: ([pod]) => [
            listenerYaml("", transport),
            serviceEntryYaml("echo", [pod!]),
            serviceEntryYaml("dead", [dead]),
            serviceEntryYaml("limited", [pod!]),
            `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: limited }
spec:
  host: limited
  trafficPolicy:
    connectionPool:
      http: { http2MaxRequests: 1 }`,
          ],
        });
      });

      test("no route for the authority -> UNIMPLEMENTED naming it", async (t) => {
        const other = clientFor(t, h.target, { "grpc.default_authority": "nowhere.example:50051" });
        const r = await callUnary(other, Buffer.from("x"));
        assert.equal(r.code, grpc.status.UNIMPLEMENTED);
        assert.equal(r.details, "no route for authority nowhere.example:50051");
      });

      test("the authority routes by host, port stripped, short name or FQDN", async () => {
        for (const authority of ["echo", "echo:50051", "ECHO:1234"]) {
          const c = echoClient(h.target, { "grpc.default_authority": authority });
          const r = await callUnary(c, Buffer.from("x"));
          c.close();
          assert.equal(r.code, 0, `${authority}: ${r.details}`);
        }
      });

      test("connect refused -> UNAVAILABLE upstream connect error", async (t) => {
        const c = clientFor(t, h.target, { "grpc.default_authority": "dead" });
        const r = await callUnary(c, Buffer.from("x"));
        assert.equal(r.code, grpc.status.UNAVAILABLE);
        assert.match(r.details, /^upstream connect error: ECONNREFUSED/);
      });

      test("http2MaxRequests: the request over the limit gets UNAVAILABLE naming the limit", async (t) => {
        const c = clientFor(t, h.target, { "grpc.default_authority": "limited" });
        const started = once(h.pods[0]!.stats.events, "begin");
        const slow = c.makeUnaryRequest(
          echoService.unary.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from("slow"),
          md({ "x-echo-delay-ms": "60000" }),
          () => undefined,
        );
        await started;
        const r = await callUnary(c, Buffer.from("x"));
        assert.equal(r.code, grpc.status.UNAVAILABLE);
        assert.match(r.details, /http2MaxRequests limit \(1\)/);
        assert.equal(h.proxy.cluster("limited|50051|")?.stats.overflows, 1);
        const ended = once(h.pods[0]!.stats.events, "end");
        slow.cancel();
        await ended;
        // With the slow RPC gone, the limit has room again.
        assert.equal((await callUnary(c, Buffer.from("x"))).code, 0);
      });

      test("grpc-timeout is enforced by the proxy: DEADLINE_EXCEEDED and the upstream stream reset", async () => {
        const ended = once(h.pods[0]!.stats.events, "end");
        const r = await rawRequest(h.target, echoHeaders({ "grpc-timeout": "100m", "x-echo-delay-ms": "60000" }), grpcFrame(Buffer.from("late")));
        assert.equal(r.headers[":status"], 200);
        assert.equal(r.headers["grpc-status"], String(grpc.status.DEADLINE_EXCEEDED));
        assert.match(String(r.headers["grpc-message"]), /deadline exceeded/);
        await ended; // the backend saw the cancellation: its handler ended without answering
        assert.equal(h.pods[0]!.stats.active, 0);
      });

      test("malformed grpc-timeout -> INTERNAL", async () => {
        const r = await rawRequest(h.target, {
          ":method": "POST",
          ":path": echoService.unary.path,
          ":authority": "echo",
          "content-type": "application/grpc",
          "grpc-timeout": "soon",
        });
        assert.equal(r.headers["grpc-status"], String(grpc.status.INTERNAL));
      });

      test("a client cancel resets the upstream stream", async () => {
        const begun = once(h.pods[0]!.stats.events, "begin");
        const call = h.client.makeServerStreamRequest(
          echoService.serverStream.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from("x"),
          md({ "x-echo-count": "1000000", "x-echo-size": "1000" }),
        );
        call.on("data", () => undefined);
        call.on("error", () => undefined);
        await begun;
        const ended = once(h.pods[0]!.stats.events, "end");
        call.cancel();
        await ended;
        assert.equal(h.pods[0]!.stats.active, 0);
      });

      test("a non-gRPC HTTP/2 request gets HTTP 415 with an explanation", async () => {
        const r = await rawRequest(h.target, { ":method": "GET", ":path": "/", ":authority": "echo" });
        assert.equal(r.headers[":status"], 415);
        assert.match(r.body.toString(), /gRPC only/);
      });

      test("an HTTP/1.1 request gets a clear error and the proxy stays up", async () => {
        const [host, port] = h.target.split(":");
        const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          http
            .get({ host, port: Number(port), path: "/" }, (r) => {
              let body = "";
              r.on("data", (c: Buffer) => (body += c.toString()));
              r.on("end", () => resolve({ status: r.statusCode ?? 0, body }));
            })
            .on("error", reject);
        });
        assert.equal(res.status, 505);
        assert.match(res.body, /HTTP\/2/);
        const ok = await callUnary(h.client, Buffer.from("still up"));
        assert.equal(ok.code, 0);
      });

      test("an HTTP/1.1 request split across packets ('P', then 'OST ...') still gets the 505", async () => {
        const [host, port] = h.target.split(":");
        const sock = net.connect(Number(port), host);
        await once(sock, "connect");
        let reply = "";
        sock.on("data", (c: Buffer) => (reply += c.toString()));
        sock.write("P");
        await new Promise<void>((r) => setImmediate(r));
        sock.write("OST / HTTP/1.1\r\nhost: x\r\n\r\n");
        await once(sock, "close");
        assert.match(reply, /^HTTP\/1\.1 505/);
      });

      test("a grpc-timeout beyond setTimeout's range (30 days) is no deadline, not an instant one", async () => {
        const r = await rawRequest(h.target, echoHeaders({ "grpc-timeout": "720H", "x-echo-delay-ms": "20" }), grpcFrame(Buffer.from("x")));
        // The proxy sets no timer it cannot hold (it would fire at once). The backend (grpc-js)
        // may still give up on such a timeout itself, so only the proxy's own verdict is checked.
        const message = String(r.trailers?.["grpc-message"] ?? r.headers["grpc-message"] ?? "");
        assert.doesNotMatch(message, /sluice proxy/);
      });

      test("garbage bytes after the preface close that connection only", async () => {
        const [host, port] = h.target.split(":");
        const sock = net.connect(Number(port), host);
        await once(sock, "connect");
        sock.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        sock.write(Buffer.alloc(64, 0xff));
        sock.on("error", () => undefined);
        sock.resume();
        await once(sock, "close");
        const ok = await callUnary(h.client, Buffer.from("still up"));
        assert.equal(ok.code, 0);
      });
    });

    describe("no stream left behind", () => {
      test("RPCs that fail locally while their request body waits leave no stream: the proxy drains at once", async (t) => {
        const dead = await deadPort();
        const h = await proxyWithPods(t, {
          pods: 0,
          config: () => [listenerYaml("", transport), serviceEntryYaml("dead", [dead])],
          client: { "grpc.default_authority": "dead" },
        });
        for (let i = 0; i < 3; i++) assert.equal((await callUnary(h.client, Buffer.alloc(100_000))).code, grpc.status.UNAVAILABLE);
        // The client stays connected; a graceful stop (GOAWAY) must not wait for the grace period.
        // Before the fix each refused RPC left a paused server stream that kept the session open.
        const t0 = Date.now();
        await h.proxy.stop(60_000);
        assert.ok(Date.now() - t0 < 30_000, `stop took ${Date.now() - t0} ms`);
      });

      test("a backend connection dropped while RPCs wait for stream capacity: no crash, statuses for all", async (t) => {
        // A backend that takes one stream at a time and never answers; the pool may open one connection.
        const sockets: net.Socket[] = [];
        const backend = http2.createServer({ settings: { maxConcurrentStreams: 1 } });
        backend.on("connection", (s: net.Socket) => sockets.push(s));
        backend.on("stream", (s: http2.ServerHttp2Stream) => s.on("error", () => undefined));
        await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
        defer(t, () => {
          backend.close();
          for (const s of sockets) s.destroy();
        });
        const port = (backend.address() as net.AddressInfo).port;
        let ended = 0;
        let allEnded: () => void = () => undefined;
        const threeEnded = new Promise<void>((resolve) => (allEnded = resolve));
        const onRpcEnd = (): void => {
          if (++ended === 3) allEnded();
        };
        const h = await proxyWithPods(t, {
          pods: 0,
          config: () => [
            listenerYaml("", transport),
            serviceEntryYaml("up", [port]),
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: up }\nspec:\n  host: up\n  trafficPolicy:\n    connectionPool:\n      tcp: { maxConnections: 1 }",
          ],
          deps: { onRpcEnd },
          client: { "grpc.default_authority": "up" },
        });
        const first = callUnary(h.client, Buffer.from("x"));
        const opened = once(backend, "stream");
        await opened;
        const waiting = [1, 2].map(() => callUnary(h.client, Buffer.from("x"), undefined, { deadline: Date.now() + 1500 }));
        for (const s of sockets) s.resetAndDestroy();
        const r = await first;
        assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
        // The waiting RPCs move to a new connection (the backend still holds them): their deadline ends them.
        for (const w of await Promise.all(waiting)) assert.equal(w.code, grpc.status.DEADLINE_EXCEEDED);
        await threeEnded; // the proxy saw each RPC end (the clients' cancels reach it after their statuses)
        assert.equal(h.cluster("up|50051|").stats.active, 0);
      });
    });

    describe("a dying backend", () => {
      test("the backend dropping its connection mid-stream gives the client a status, not a hang", async (t) => {
        const { client, pods } = await proxyWithPods(t, { transport });
        let got = 0;
        const r = await callServerStream(client, Buffer.from("x"), md({ "x-echo-count": "1000000", "x-echo-size": "100" }), {}, () => {
          if (++got === 10) pods[0]!.server.forceShutdown();
        });
        assert.ok(got >= 10);
        // A lost connection is UNAVAILABLE (retryable, a gateway error), as grpc-js itself reports it.
        assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
        assert.match(r.details, /upstream connection lost/);
        // The proxy answers the next RPC with a status too (nothing listens now).
        const next = await callUnary(client, Buffer.from("x"));
        assert.equal(next.code, grpc.status.UNAVAILABLE);
      });
    });
  });
