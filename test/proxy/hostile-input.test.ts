// Hostile and broken input against the whole proxy, on each transport: whatever a peer
// sends, that peer gets an error or a close, the proxy neither crashes nor wedges, and a
// normal grpc-js client is served afterwards (at full speed, after a flood). The HTTP/2
// framing attacks themselves are covered at the transport level (test/transport/h2/
// hostile.test.ts); HTTP/1.1 bytes, garbage after the preface and grpc-timeout "soon" in
// failures.test.ts. Here: what reaches a proxy in the field.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { createInterface } from "node:readline";
import tls from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { echoService } from "../../src/demo/echo-service.js";
import { Flag, FrameType } from "../../src/transport/h2/frames/constants.js";
import { H2Code } from "../../src/transport/types.js";
import { currentRss, endWith, spawnProxy, tempFile } from "../support/cli.js";
import { md, serviceEntryYaml } from "../support/cluster.js";
import { clientFor } from "../support/calls.js";
import { proxyWithPods, type ProxyWithPods } from "../support/proxy-with-pods.js";
import { scriptedPods, type ScriptedPod } from "../support/scripted-pods.js";
import { Teardown } from "../support/teardown.js";
import { repoPath } from "../support/paths.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { CLIENT_PRELUDE, frame, u32 } from "../transport/h2/frames/helpers.js";
import { RawClient } from "../transport/h2/support.js";

/** The proxy's slowloris guards, shortened so the tests that wait for them stay quick. */
const PREFACE_MS = 1000;
const FRAME_READ_MS = 1000;

interface RawResult {
  readonly status: number | undefined;
  readonly grpcStatus: string | undefined;
  readonly grpcMessage: string;
  /** RST_STREAM code when the stream was reset instead of answered. */
  readonly rstCode: number;
}

/** One request over node:http2, so the proxy (not a client library) is what judges it. */
function rawRequest(target: string, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${target}`);
    session.on("error", reject);
    const req = session.request(headers);
    let h: http2.IncomingHttpHeaders = {};
    let t: http2.IncomingHttpHeaders = {};
    req.on("response", (x) => (h = x));
    req.on("trailers", (x: http2.IncomingHttpHeaders) => (t = x));
    req.on("data", () => undefined);
    req.on("error", () => undefined); // a reset is reported through rstCode
    req.on("close", () => {
      session.close();
      const status = h[":status"];
      resolve({
        status: status === undefined ? undefined : Number(status),
        grpcStatus: String(h["grpc-status"] ?? t["grpc-status"] ?? "") || undefined,
        grpcMessage: decodeURIComponent(String(h["grpc-message"] ?? t["grpc-message"] ?? "")),
        rstCode: req.rstCode ?? 0,
      });
    });
    req.end(body);
  });
}

function grpcRequest(extra: http2.OutgoingHttpHeaders): http2.OutgoingHttpHeaders {
  return { ":method": "POST", ":path": echoService.unary.path, ":authority": "echo", "content-type": "application/grpc", te: "trailers", ...extra };
}

function lengthPrefixed(declared: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(declared, 1);
  return Buffer.concat([head, body]);
}

function hostPort(target: string): { host: string; port: number } {
  const [host, port] = target.split(":");
  return { host: host!, port: Number(port) };
}

async function rawSocket(target: string): Promise<net.Socket> {
  const { host, port } = hostPort(target);
  const sock = net.connect(port, host);
  sock.on("error", () => undefined); // a reset by the proxy is an expected way to end
  await once(sock, "connect");
  return sock;
}

/** Resolves when the socket closes, however (events.once would reject on an ECONNRESET). */
function closed(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => sock.once("close", () => resolve()));
}

/**
 * Writes `bytes` one octet per `everyMs` (the slowloris pace) until done or the socket
 * closes; `finished` resolves once the last octet is written.
 */
function trickle(sock: net.Socket, bytes: Buffer, everyMs: number): { stop: () => void; finished: Promise<void> } {
  let i = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const timer = setInterval(() => {
    if (sock.destroyed) return clearInterval(timer);
    sock.write(bytes.subarray(i, ++i));
    if (i >= bytes.length) {
      clearInterval(timer);
      finish();
    }
  }, everyMs);
  sock.on("close", () => clearInterval(timer));
  return { stop: () => clearInterval(timer), finished };
}

/** Completed unary RPCs in `ms` from `clients`, 8 in flight each; any failure fails the test. */
async function rpcsIn(clients: readonly grpc.Client[], ms: number): Promise<number> {
  const end = performance.now() + ms;
  let done = 0;
  const loop = async (c: grpc.Client): Promise<void> => {
    while (performance.now() < end) {
      const r = await callUnary(c, Buffer.from("load"));
      assert.equal(r.code, 0, r.details);
      done++;
    }
  };
  await Promise.all(clients.flatMap((c) => Array.from({ length: 8 }, () => loop(c))));
  return done;
}

function goawayCode(c: RawClient): string | undefined {
  return c.goaway()?.split(" ")[2];
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}: hostile input`, () => {
    const suite = new Teardown();
    after(() => suite.run());
    let proxy: ProxyWithPods;
    let pods: ScriptedPod[];
    let client: grpc.Client;

    before(async () => {
      proxy = await proxyWithPods(suite, { transport, deps: { downstreamTimeouts: { prefaceMs: PREFACE_MS, frameReadMs: FRAME_READ_MS } } });
      ({ pods, client } = proxy);
    });

    /** The proxy still serves the long-lived grpc-js client. */
    async function stillServes(): Promise<void> {
      const r = await callUnary(client, Buffer.from("still here"));
      assert.equal(r.code, 0, r.details);
      assert.equal(r.response?.toString(), "still here");
    }

    test("a TLS ClientHello on the h2c port: the TLS client fails at once, the proxy serves on", async (t) => {
      const { host, port } = hostPort(proxy.target);
      const err = await new Promise<Error>((resolve) => {
        const s = tls.connect({ host, port, servername: "echo", rejectUnauthorized: false });
        s.on("secureConnect", () => resolve(new Error("a TLS handshake succeeded on the h2c port")));
        s.on("error", resolve);
      });
      t.diagnostic(`TLS client error: ${err.message}`);
      // It reads the GOAWAY (a bad preface) as a TLS record: "wrong version number" (or a reset).
      assert.match(err.message, /wrong version number|ECONNRESET|socket disconnected|packet length too long|unexpected eof/i);
      await stillServes();
    });

    test("garbage before any preface (not HTTP/1.x either): GOAWAY PROTOCOL_ERROR and a close (RFC 9113 3.4)", async () => {
      const sock = await rawSocket(proxy.target);
      const chunks: Buffer[] = [];
      sock.on("data", (c: Buffer) => chunks.push(c));
      sock.write(Buffer.from([0x00, 0xff, 0x13, 0x37, ...Buffer.alloc(60, 0xaa)]));
      await closed(sock);
      const reply = Buffer.concat(chunks);
      // One frame: type 7 (GOAWAY) on stream 0, last stream 0, error code 1 (PROTOCOL_ERROR).
      assert.deepEqual([reply[3], reply.readUInt32BE(5), reply.readUInt32BE(9), reply.readUInt32BE(13)], [7, 0, 0, 1]);
      assert.equal(reply.length, 9 + reply.readUIntBE(0, 3));
      await stillServes();
    });

    test("a truncated preface, then close", async () => {
      const sock = await rawSocket(proxy.target);
      sock.end(CLIENT_PRELUDE.subarray(0, 10));
      sock.resume();
      await closed(sock);
      await stillServes();
    });

    test("a truncated preface, then silence: closed by the preface timeout", async () => {
      const sock = await rawSocket(proxy.target);
      sock.write(CLIENT_PRELUDE.subarray(0, 10));
      sock.resume();
      const t0 = performance.now();
      await closed(sock);
      const ms = performance.now() - t0;
      assert.ok(ms >= PREFACE_MS * 0.8 && ms < PREFACE_MS + 5000, `closed after ${ms.toFixed(0)} ms`);
      await stillServes();
    });

    test("slowloris on the preface (a byte every 50 ms): closed by the preface timeout, others served meanwhile", async () => {
      const sock = await rawSocket(proxy.target);
      sock.resume();
      const gone = closed(sock);
      const t0 = performance.now();
      const { finished } = trickle(sock, CLIENT_PRELUDE, 50);
      await stillServes();
      assert.ok(!sock.destroyed, "the slowloris was closed before the RPC beside it finished");
      await Promise.race([gone, finished]);
      assert.ok(sock.destroyed, "the whole preface went through a byte at a time");
      await gone;
      const ms = performance.now() - t0;
      // 33 octets at 50 ms take 1.65 s: cut before that, as the timeout counts from the connection's start.
      assert.ok(ms >= PREFACE_MS * 0.8, `closed after ${ms.toFixed(0)} ms`);
    });

    test("slowloris on a request's HEADERS (a byte every 50 ms): others served meanwhile; closed by the frame-read timeout (h2)", async (t) => {
      const c = await RawClient.connect(hostPort(proxy.target).port);
      c.writer.settingsAck(); // so no SETTINGS timeout is what closes it
      c.flush();
      c.request(1, true, { ":authority": "echo" });
      const headers = c.writer.take();
      const bytes = Buffer.concat(Array.isArray(headers) ? headers : [headers]);
      const t0 = performance.now();
      const { stop, finished } = trickle(c.socket, bytes, 50);
      await stillServes();
      assert.ok(!c.socket.destroyed, "the slowloris was closed before the RPC beside it finished");
      if (transport === "node") {
        // node:http2 exposes no partial frames: the node transport has no frame-read timeout.
        // The slowloris costs one idle-looking connection and holds nobody else up.
        t.diagnostic("node transport: a trickled HEADERS frame is not timed out (node:http2 has no hook); only isolation is checked");
        stop();
        c.close();
        return;
      }
      await Promise.race([c.closed, finished]);
      assert.ok(c.socket.destroyed, "the whole HEADERS frame went through a byte at a time");
      const ms = performance.now() - t0;
      assert.equal(goawayCode(c), "ENHANCE_YOUR_CALM", c.events.join("\n"));
      // The timeout fires between one and two periods after the first partial frame.
      assert.ok(ms >= FRAME_READ_MS * 0.8 && ms < 2 * FRAME_READ_MS + 3000, `closed after ${ms.toFixed(0)} ms`);
    });

    // The GOAWAY code each transport sends. node:http2 reports some nghttp2 errors as INTERNAL_ERROR.
    for (const [name, bytes, h2Code, nodeCode] of [
      ["DATA on stream 0", frame(FrameType.DATA, 0, 0, Buffer.from("x")), "PROTOCOL_ERROR", "PROTOCOL_ERROR"],
      [
        "HEADERS whose HPACK block indexes entry 0",
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.from([0x80])),
        "COMPRESSION_ERROR",
        "COMPRESSION_ERROR",
      ],
      [
        "HEADERS whose HPACK block is cut short",
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.from([0x40, 0x05, 0x61])),
        "COMPRESSION_ERROR",
        "COMPRESSION_ERROR",
      ],
      ["WINDOW_UPDATE of 0 on the connection", frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from(u32(0))), "PROTOCOL_ERROR", "INTERNAL_ERROR"],
      ["SETTINGS with a 7-octet payload", frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(7)), "FRAME_SIZE_ERROR", "FRAME_SIZE_ERROR"],
    ] as const) {
      const code = transport === "node" ? nodeCode : h2Code;
      test(`an invalid frame, ${name}: GOAWAY ${code}, then the proxy serves on`, async () => {
        const c = await RawClient.connect(hostPort(proxy.target).port);
        c.socket.write(bytes);
        await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
        assert.equal(goawayCode(c), code, c.events.join("\n"));
        c.close();
        await stillServes();
      });
    }

    test("WINDOW_UPDATE of 0 on an open stream: h2 resets that stream and keeps the connection; node ends the connection", async () => {
      const c = await RawClient.connect(hostPort(proxy.target).port);
      c.request(1, false, { ":authority": "echo", "x-echo-delay-ms": "60000" });
      c.flush();
      c.socket.write(frame(FrameType.WINDOW_UPDATE, 0, 1, Buffer.from(u32(0))));
      await c.until((e) => e.some((l) => l.startsWith("RST_STREAM s=1") || l.startsWith("GOAWAY")));
      if (transport === "node") {
        // nghttp2 makes it a connection error (RFC 9113 allows either); node sends INTERNAL_ERROR.
        assert.equal(goawayCode(c), "INTERNAL_ERROR", c.events.join("\n"));
        c.close();
        return stillServes();
      }
      assert.ok(c.events.includes("RST_STREAM s=1 PROTOCOL_ERROR"), c.events.join("\n"));
      assert.equal(c.goaway(), undefined);
      // The same connection takes the next request.
      c.request(3, false, { ":authority": "echo" });
      c.writer.data(3, lengthPrefixed(2, Buffer.from("ok")), true);
      c.flush();
      await c.until((e) => e.some((l) => /^HEADERS s=3 end=true/.test(l)));
      c.close();
      await stillServes();
    });

    test("request headers over the limit: a status for that RPC, the same channel serves on", async (t) => {
      const rpcsBefore = pods[0]!.stats.rpcs;
      const r = await callUnary(client, Buffer.from("x"), md({ "x-big": "y".repeat(100_000) }));
      t.diagnostic(`100 KB of metadata: ${grpc.status[r.code]} ${r.details}`);
      assert.ok([grpc.status.RESOURCE_EXHAUSTED, grpc.status.INTERNAL].includes(r.code), `${r.code} ${r.details}`);
      assert.equal(pods[0]!.stats.rpcs, rpcsBefore, "the oversized request reached the backend");
      await stillServes();
    });

    test("request headers over the limit from a client that ignores it: refused, the backend never asked", async (t) => {
      const rpcsBefore = pods[0]!.stats.rpcs;
      const c = await RawClient.connect(hostPort(proxy.target).port);
      // ~80 KB once HPACK-encoded ('~' has a 13-bit Huffman code: sent raw), over the
      // 64 KiB header list both transports allow; split over HEADERS and CONTINUATIONs.
      c.request(1, true, { ":authority": "echo", "x-big": "~".repeat(80_000) });
      c.flush();
      await c.until((e) => e.some((l) => l.startsWith("RST_STREAM s=1") || l.startsWith("GOAWAY") || /^HEADERS s=1/.test(l)));
      const answer = c.events.find((l) => l.startsWith("RST_STREAM s=1") || l.startsWith("GOAWAY") || /^HEADERS s=1/.test(l));
      t.diagnostic(`80 KB header: ${answer ?? "closed"}`);
      // The h2 transport's field-block cap (a connection error: the HPACK table cannot stay in
      // step without decoding the block); nghttp2 fails it while decoding.
      assert.equal(goawayCode(c), transport === "node" ? "COMPRESSION_ERROR" : "ENHANCE_YOUR_CALM", answer);
      c.close();
      assert.equal(pods[0]!.stats.rpcs, rpcsBefore, "the oversized request reached the backend");
      await stillServes();
    });

    test("a malformed grpc-timeout: INTERNAL, as a grpc-js server answers it", async (t) => {
      const pod = `127.0.0.1:${pods[0]!.port}`;
      for (const value of ["soon", "S", "5", "5x", "M5", ""]) {
        const direct = await rawRequest(pod, grpcRequest({ "grpc-timeout": value }), lengthPrefixed(1, Buffer.from("x")));
        const viaProxy = await rawRequest(proxy.target, grpcRequest({ "grpc-timeout": value }), lengthPrefixed(1, Buffer.from("x")));
        assert.equal(direct.grpcStatus, String(grpc.status.INTERNAL), `grpc-js on ${JSON.stringify(value)}: ${direct.grpcMessage}`);
        assert.equal(viaProxy.grpcStatus, direct.grpcStatus, `sluice on ${JSON.stringify(value)}: ${viaProxy.grpcMessage}`);
      }
      // grpc-js matches /(\d{1,8})\s*([HMSmun])/ anywhere in the value; the spec (and grpc-go)
      // want exactly 1-8 digits and a unit. sluice follows the spec: INTERNAL for these.
      for (const value of ["1 S", "123456789S", "x5Sy", "1.5S", "-5S"]) {
        const viaProxy = await rawRequest(proxy.target, grpcRequest({ "grpc-timeout": value }), lengthPrefixed(1, Buffer.from("x")));
        assert.equal(viaProxy.grpcStatus, String(grpc.status.INTERNAL), JSON.stringify(value));
      }
      t.diagnostic('grpc-js accepts "1 S", "123456789S", "x5Sy", "1.5S", "-5S" (unanchored regex); sluice, like grpc-go, answers INTERNAL');
      await stillServes();
    });

    test("a :path that is not /service/method: UNIMPLEMENTED from the proxy, the backend never asked", async () => {
      for (const path of ["/", "/nomethod", "/a/b/c", "/svc/", "//method", "foo/bar", "*"]) {
        const r = await rawRequest(proxy.target, grpcRequest({ ":path": path }), lengthPrefixed(1, Buffer.from("x")));
        if (transport === "node" && !path.startsWith("/")) {
          // node:http2 resets a request whose :path is not origin-form before the proxy sees it.
          assert.equal(r.rstCode, H2Code.PROTOCOL_ERROR, `${path}: ${JSON.stringify(r)}`);
          continue;
        }
        assert.equal(r.grpcStatus, String(grpc.status.UNIMPLEMENTED), `${path}: ${JSON.stringify(r)}`);
        // The proxy's own answer, not the backend's "The server does not implement the method".
        assert.match(r.grpcMessage, /^malformed :path/, path);
      }
      await stillServes();
    });

    test("a length prefix larger than the body: the backend's verdict reaches the client as a status", async (t) => {
      const r = await rawRequest(proxy.target, grpcRequest({}), lengthPrefixed(1000, Buffer.from("short")));
      t.diagnostic(`prefix 1000, body 5 octets: grpc-status ${r.grpcStatus} ${r.grpcMessage}`);
      assert.equal(r.status, 200);
      assert.ok(r.grpcStatus !== undefined && r.grpcStatus !== "0", JSON.stringify(r));
      assert.doesNotMatch(r.grpcMessage, /sluice proxy|upstream/); // the backend's answer, passed through
      await stillServes();
    });

    test("rapid reset (CVE-2023-44487): the flooding connection is cut, the backend is spared, throughput after is normal", async (t) => {
      const load = Array.from({ length: 4 }, () => clientFor(t, proxy.target, { "grpc.default_authority": "echo" }));
      await rpcsIn(load, 200); // warm up: connections and JIT
      const before = await rpcsIn(load, 1000);
      const rpcsBefore = pods[0]!.stats.rpcs;
      const c = await RawClient.connect(hostPort(proxy.target).port);
      let sent = 0;
      for (let batch = 0; batch < 20 && !c.socket.destroyed && c.goaway() === undefined; batch++) {
        for (let i = 0; i < 500; i++) {
          const id = 1 + 2 * sent++;
          c.request(id, false, { ":authority": "echo" });
          c.writer.rstStream(id, H2Code.CANCEL);
        }
        c.flush();
        await new Promise<void>((resolve) => setImmediate(resolve)); // let the proxy read and answer
      }
      await c.until((e) => e.some((l) => l.startsWith("GOAWAY")));
      const code = goawayCode(c);
      c.close();
      const reachedBackend = pods[0]!.stats.rpcs - rpcsBefore;
      const afterCount = await rpcsIn(load, 1000);
      t.diagnostic(
        `${sent} streams opened and reset; GOAWAY ${code}; ${reachedBackend} reached the backend; RPCs per second before ${before}, after ${afterCount}`,
      );
      // nghttp2's reset-rate limit ends the session; node:http2 reports it as INTERNAL_ERROR.
      assert.equal(code, transport === "node" ? "INTERNAL_ERROR" : "ENHANCE_YOUR_CALM");
      assert.ok(reachedBackend <= 1100, `${reachedBackend} cancelled streams reached the backend`);
      assert.ok(afterCount >= before * 0.4, `throughput fell from ${before} to ${afterCount} RPCs per second`);
    });
  });

/** Idle client connections held by bench/idle-conns.ts in a process of its own (it needs the fds). */
const IDLE_CONNECTIONS = 10_000;

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}: ${IDLE_CONNECTIONS} idle connections`, () => {
    test("the proxy (a child process) holds them all, serves RPCs beside them, and lets them go", async (t) => {
      const pods = await scriptedPods(t, 1);
      // Room for them all beside the client: the default downstream.maxConnections is 10,000.
      const limits = "apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: { name: p }\nspec:\n  downstream: { maxConnections: 20000 }\n";
      const file = tempFile("cfg.yaml", `${serviceEntryYaml("echo", [pods[0]!.port])}---\n${limits}`);
      const { child, port } = await spawnProxy(["-c", file, "--listen", "127.0.0.1:0", "--transport", transport]);
      endWith(t, child);
      const pid = child.pid!;
      const read = (p: string): string => readFileSync(p, "utf8");
      const fds = (): number => readdirSync(`/proc/${pid}/fd`).length;
      const client = clientFor(t, `127.0.0.1:${port}`, { "grpc.default_authority": "echo" });
      // The fd limit must fit them: the proxy inherits ours.
      const limit = Number(/Max open files\s+(\d+)/.exec(read(`/proc/${pid}/limits`))?.[1]);
      assert.ok(limit > IDLE_CONNECTIONS + 100, `the proxy may open only ${limit} files (ulimit -n)`);
      assert.equal((await callUnary(client, Buffer.from("warm"))).code, 0);
      const rssBefore = currentRss(pid, read);
      const fdsBefore = fds();
      const t0 = performance.now();
      const holder = spawn(process.execPath, [repoPath("dist/bench/idle-conns.js"), `127.0.0.1:${port}`, String(IDLE_CONNECTIONS)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      endWith(t, holder, "SIGKILL");
      const [line] = (await Promise.race([
        once(createInterface({ input: holder.stdout }), "line"),
        once(holder, "exit").then(([code]) => assert.fail(`idle-conns exited with ${String(code)}`)),
      ])) as [string];
      const ready = JSON.parse(line) as { ready: number; handshakeSeconds: number };
      const handshakeMs = performance.now() - t0;
      const rssAfter = currentRss(pid, read);
      const held = fds() - fdsBefore;
      // Every handshake completed (SETTINGS both ways) and the proxy still holds each socket.
      assert.equal(ready.ready, IDLE_CONNECTIONS);
      assert.ok(held >= IDLE_CONNECTIONS, `the proxy holds ${held} more fds`);
      const perConnection = (rssAfter - rssBefore) / IDLE_CONNECTIONS;
      t.diagnostic(
        `${transport}: ${IDLE_CONNECTIONS} idle connections in ${(handshakeMs / 1000).toFixed(1)} s; proxy RSS ${(rssBefore / 1048576).toFixed(1)} -> ${(rssAfter / 1048576).toFixed(1)} MB: ` +
          `${(perConnection / 1024).toFixed(1)} KiB per idle connection (no forced GC: handshake garbage included)`,
      );
      // Generous: node:http2 sessions cost ~25 KiB each, the h2 transport's ~10 (docs/BENCHMARKS.md).
      assert.ok(perConnection < 64 * 1024, `${perConnection} bytes per idle connection`);
      // Beside them, the proxy serves as before.
      for (let i = 0; i < 20; i++) assert.equal((await callUnary(client, Buffer.from(`beside ${i}`))).code, 0);
      // All of them gone at once: the proxy closes its side of each, and still serves.
      const gone = once(holder, "exit");
      holder.kill("SIGKILL");
      await gone;
      assert.equal((await callUnary(client, Buffer.from("after"))).code, 0);
    });
  });
