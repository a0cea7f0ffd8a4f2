// Request-mode forwarding with real grpc-js clients and servers: every call type, all
// metadata, every status, trailers-only, compression, and bytes untouched.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import { callBidi, callClientStream, callServerStream, callUnary } from "../../src/demo/echo-client.js";
import { md } from "../support/cluster.js";
import { clientFor } from "../support/calls.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import { Teardown } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    describe("request-mode forwarding", () => {
      const suite = new Teardown();
      after(() => suite.run());
      let client: grpc.Client;
      let target: string;

      before(async () => {
        ({ client, target } = await proxyWithPods(suite, { transport }));
      });

      test("unary: message bytes, ASCII and -bin metadata, headers and trailers pass through", async () => {
        const payload = randomBytes(4096);
        const bin = Buffer.from([0, 1, 2, 250, 255]);
        const r = await callUnary(client, payload, md({ "x-echo-a": "alpha", "x-echo-b": "beta", "x-trace-bin": bin }));
        assert.equal(r.code, 0, r.details);
        assert.ok(r.response?.equals(payload), "response bytes differ");
        assert.deepEqual(r.headers?.get("x-echo-a"), ["alpha"]);
        assert.deepEqual(r.headers?.get("x-pod"), ["pod-1"]);
        assert.deepEqual(r.trailers?.get("x-echo-b"), ["beta"]);
        const echoedBin = r.trailers?.get("x-trace-bin")[0];
        assert.ok(Buffer.isBuffer(echoedBin) && echoedBin.equals(bin), "binary metadata changed");
      });

      test("empty and large (4 MiB) messages", async () => {
        const empty = await callUnary(client, Buffer.alloc(0));
        assert.equal(empty.code, 0);
        assert.equal(empty.response?.length, 0);
        const big = randomBytes(4 * 1024 * 1024 - 64);
        const r = await callUnary(client, big, undefined, {});
        assert.equal(r.code, 0, r.details);
        assert.ok(r.response?.equals(big));
      });

      test("every status code and its message pass through, with headers and trailers-only", async () => {
        for (let code = 1; code <= 16; code++) {
          for (const trailersOnly of [false, true]) {
            const message = `failure ${code}: naïve – 100% ünïcödé ✓`;
            const meta: Record<string, string | Buffer> = { "x-echo-status": String(code), "x-echo-message-bin": Buffer.from(message) };
            if (trailersOnly) meta["x-echo-trailers-only"] = "1";
            const r = await callUnary(client, Buffer.from("x"), md(meta));
            assert.equal(r.code, code, `code ${code} trailersOnly=${trailersOnly}: ${r.details}`);
            assert.equal(r.details, message);
            if (!trailersOnly) assert.deepEqual(r.headers?.get("x-pod"), ["pod-1"]);
          }
        }
      });

      test("server streaming delivers every message in order, then the trailers", async () => {
        const r = await callServerStream(client, Buffer.from("s"), md({ "x-echo-count": "50", "x-echo-size": "1000", "x-echo-t": "v" }));
        assert.equal(r.code, 0, r.details);
        assert.equal(r.messages.length, 50);
        r.messages.forEach((m, i) => assert.ok(m.equals(Buffer.alloc(1000, i % 251)), `message ${i}`));
        assert.deepEqual(r.trailers?.get("x-echo-t"), ["v"]);
      });

      test("server streaming ending in an error status keeps the messages sent before it", async () => {
        const r = await callServerStream(
          client,
          Buffer.from("s"),
          md({ "x-echo-count": "5", "x-echo-size": "10", "x-echo-status": "8", "x-echo-message": "quota" }),
        );
        assert.equal(r.code, 8);
        assert.equal(r.details, "quota");
        assert.equal(r.messages.length, 5);
      });

      test("client streaming concatenates every request message", async () => {
        const parts = Array.from({ length: 20 }, () => randomBytes(777));
        const r = await callClientStream(client, parts);
        assert.equal(r.code, 0, r.details);
        assert.ok(r.response?.equals(Buffer.concat(parts)));
      });

      test("bidi streaming echoes each message in turn", async () => {
        const parts = Array.from({ length: 30 }, (_, i) => Buffer.from(`m${i}`));
        const r = await callBidi(client, parts, md({ "x-echo-z": "z" }));
        assert.equal(r.code, 0, r.details);
        assert.deepEqual(r.messages.map(String), parts.map(String));
        assert.deepEqual(r.headers?.get("x-echo-z"), ["z"]);
      });

      test("compressed messages (grpc-encoding gzip, compressed flag) pass through untouched", async (t) => {
        const gz = clientFor(t, target, { "grpc.default_compression_algorithm": 2 });
        const payload = Buffer.alloc(100_000, "compressible ");
        const r = await callUnary(gz, payload);
        assert.equal(r.code, 0, r.details);
        assert.ok(r.response?.equals(payload));
      });
    });
  });
