// grpc-js client -> sluice -> grpcio (Python, gRPC C-core) echo server. Each call is made
// straight to the server and through the proxy, and both must see exactly the same thing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { callBidi, callClientStream, callServerStream, callUnary, echoClient, type CallResult } from "../../src/demo/echo-client.js";
import { echoService } from "../../src/demo/echo-service.js";
import { listenerYaml, md, serviceEntryYaml, startProxy, type RunningProxy } from "../support/cluster.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { startPythonEchoServer, type PythonEchoServer } from "./support/python.js";
import { within } from "./support/wait.js";

/**
 * Everything a grpc-js client saw, in a form deepEqual compares. Without `date`: grpcio
 * sends none, while node:http2 (the node transport) adds one to every response.
 */
function seen(r: CallResult & { messages?: Buffer[] }): unknown {
  const metadata = (m: grpc.Metadata | undefined): unknown => {
    const json = m?.toJSON();
    delete json?.date;
    return json;
  };
  return {
    code: r.code,
    details: r.details,
    response: r.response,
    messages: r.messages,
    headers: metadata(r.headers),
    trailers: metadata(r.trailers),
  };
}

let server: PythonEchoServer;

before(async () => {
  server = await startPythonEchoServer();
});

after(async () => {
  await server?.stop();
});

for (const transport of TEST_TRANSPORTS) {
  describe(`grpc-js -> sluice (${transport}) -> grpcio server`, { timeout: 20_000 }, () => {
    let proxy: RunningProxy;
    let direct: grpc.Client;
    let proxied: grpc.Client;

    before(async () => {
      proxy = await startProxy(`${listenerYaml(`  transport: ${transport}`)}\n---\n${serviceEntryYaml("echo", [server.port])}`);
      direct = echoClient(`127.0.0.1:${server.port}`);
      proxied = echoClient(proxy.target);
    });

    after(async () => {
      direct?.close();
      proxied?.close();
      await proxy?.stop();
    });

    /** Makes the call both ways; asserts both saw the same; returns what the proxied call saw. */
    async function sameBothWays<R extends CallResult>(call: (c: grpc.Client) => Promise<R>): Promise<R> {
      const d = await call(direct);
      const p = await call(proxied);
      assert.deepEqual(seen(p), seen(d), "differs through the proxy");
      return p;
    }

    test("unary: message bytes, ASCII and -bin metadata in headers and trailers", async () => {
      const payload = randomBytes(64 * 1024);
      const bin = Buffer.from([0, 1, 2, 250, 255]);
      const r = await sameBothWays((c) => callUnary(c, payload, md({ "x-echo-a": "alpha", "x-trace-bin": bin })));
      assert.equal(r.code, 0, r.details);
      assert.ok(r.response?.equals(payload), "response bytes differ");
      assert.deepEqual(r.headers?.get("x-echo-a"), ["alpha"]);
      assert.deepEqual(r.headers?.get("x-pod"), ["python"]);
      assert.deepEqual(r.headers?.get("x-trace-bin"), [bin]);
      assert.deepEqual(r.trailers?.get("x-echo-a"), ["alpha"]);
      assert.deepEqual(r.trailers?.get("x-trace-bin"), [bin]);
    });

    test("server streaming delivers every message in order, then the trailers", async () => {
      const r = await sameBothWays((c) => callServerStream(c, Buffer.from("s"), md({ "x-echo-count": "20", "x-echo-size": "1000", "x-echo-t": "v" })));
      assert.equal(r.code, 0, r.details);
      assert.deepEqual(
        r.messages,
        Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000, i)),
      );
      assert.deepEqual(r.trailers?.get("x-echo-t"), ["v"]);
    });

    test("client streaming concatenates every request message", async () => {
      const parts = Array.from({ length: 10 }, () => randomBytes(777));
      const r = await sameBothWays((c) => callClientStream(c, parts));
      assert.equal(r.code, 0, r.details);
      assert.ok(r.response?.equals(Buffer.concat(parts)));
    });

    test("bidi streaming echoes each message in turn", async () => {
      const parts = Array.from({ length: 10 }, (_, i) => Buffer.from(`m${i}`));
      const r = await sameBothWays((c) => callBidi(c, parts, md({ "x-echo-z": "z" })));
      assert.equal(r.code, 0, r.details);
      assert.deepEqual(r.messages.map(String), parts.map(String));
      assert.deepEqual(r.headers?.get("x-echo-z"), ["z"]);
    });

    test("every status code with a non-ASCII message, with headers and trailers-only", async () => {
      for (let code = 1; code <= 16; code++) {
        for (const trailersOnly of [false, true]) {
          const message = `failure ${code}: naïve – 100% ünïcödé ✓ \t`;
          const meta: Record<string, string | Buffer> = { "x-echo-status": String(code), "x-echo-message-bin": Buffer.from(message) };
          if (trailersOnly) meta["x-echo-trailers-only"] = "1";
          const r = await sameBothWays((c) => callUnary(c, Buffer.from("x"), md(meta)));
          assert.equal(r.code, code, `code ${code} trailersOnly=${trailersOnly}: ${r.details}`);
          assert.equal(r.details, message);
          assert.deepEqual(r.headers?.get("x-pod") ?? [], trailersOnly ? [] : ["python"]);
        }
      }
    });

    test("deadline: a slow server gives DEADLINE_EXCEEDED and sees its call end", async () => {
      for (const [how, client] of [
        ["direct", direct],
        ["proxied", proxied],
      ] as const) {
        const tag = `${transport}-deadline-${how}`;
        const r = await callUnary(client, Buffer.from("x"), md({ "x-echo-delay-ms": "10000", "x-echo-tag": tag }), {
          deadline: Date.now() + 300,
        });
        assert.equal(r.code, grpc.status.DEADLINE_EXCEEDED, `${how}: ${r.details}`);
        const end = await within(
          5000,
          `${how}: server saw no end of the timed-out call`,
          server.waitFor((e) => e.event === "end" && e.tag === tag),
        );
        assert.equal(end.cancelled, true, `${how}: the server answered instead of seeing the call end`);
      }
    });

    test("cancellation: the server sees a cancelled call end", async () => {
      for (const [how, client] of [
        ["direct", direct],
        ["proxied", proxied],
      ] as const) {
        const tag = `${transport}-cancel-${how}`;
        const status = new Promise<grpc.StatusObject>((resolve) => {
          const call = client.makeUnaryRequest(
            echoService.unary.path,
            (b: Buffer) => b,
            (b: Buffer) => b,
            Buffer.from("x"),
            md({ "x-echo-delay-ms": "10000", "x-echo-tag": tag }),
            () => undefined,
          );
          call.on("status", resolve);
          // Cancel once the server is inside the handler, so it has a call to see end.
          server
            .waitFor((e) => e.event === "begin" && e.tag === tag)
            .then(
              () => call.cancel(),
              () => undefined,
            );
        });
        assert.equal((await within(5000, `${how}: no status`, status)).code, grpc.status.CANCELLED);
        const end = await within(
          5000,
          `${how}: server saw no end of the cancelled call`,
          server.waitFor((e) => e.event === "end" && e.tag === tag),
        );
        assert.equal(end.cancelled, true, `${how}: the server answered instead of seeing the call end`);
      }
    });
  });
}
