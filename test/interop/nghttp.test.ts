// nghttp2's own command-line clients through the proxy to a grpc-js echo pod: gRPC by hand
// (a length-prefixed message in a POST), so nothing on the client side knows gRPC. nghttp
// requests are also sent straight to the pod and must get the same answer.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { echoService } from "../../src/demo/echo-service.js";
import { listenerYaml, serviceEntryYaml, startPods, startProxy, type Pod, type RunningProxy } from "../support/cluster.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { fieldMap, grpcFrame, h2load, nghttpPost, type HeaderBlock, type NghttpResponse } from "./support/nghttp.js";
import { nghttp2Tool } from "./support/tools.js";
import { podIdle, within } from "./support/wait.js";

const GRPC = { "content-type": "application/grpc", te: "trailers" };

/** What must match direct and proxied: blocks without `date` (it may tick between the two). */
function comparable(r: NghttpResponse): unknown {
  const strip = (b: HeaderBlock): HeaderBlock => ({ ...b, fields: b.fields.filter(([k]) => k !== "date") });
  return { blocks: r.blocks.map(strip), body: r.body, reset: r.reset };
}

for (const transport of TEST_TRANSPORTS) {
  describe(`nghttp2 clients -> sluice (${transport}) -> grpc-js`, { timeout: 20_000 }, () => {
    let pod: Pod;
    let proxy: RunningProxy;

    before(async () => {
      nghttp2Tool("nghttp");
      nghttp2Tool("h2load");
      [pod] = (await startPods(1)) as [Pod];
      proxy = await startProxy(`${listenerYaml(`  transport: ${transport}`)}\n---\n${serviceEntryYaml("echo", [pod.port])}`);
    });

    after(async () => {
      await proxy?.stop();
      await pod?.stop();
    });

    /** The same nghttp request straight to the pod and through the proxy; asserts both got the same. */
    async function sameBothWays(path: string, headers: Record<string, string>, body: Buffer): Promise<NghttpResponse> {
      const direct = await nghttpPost(`http://127.0.0.1:${pod.port}${path}`, headers, body);
      const proxied = await nghttpPost(`http://${proxy.target}${path}`, headers, body);
      assert.deepEqual(comparable(proxied), comparable(direct), "differs through the proxy");
      return proxied;
    }

    test("nghttp unary POST: echoed message, metadata in headers and trailers, grpc-status 0", async () => {
      const request = grpcFrame(Buffer.from("hello from nghttp"));
      const bin = Buffer.from([0, 1, 2, 250, 255]).toString("base64");
      const r = await sameBothWays(echoService.unary.path, { ...GRPC, "x-echo-a": "alpha", "x-trace-bin": bin }, request);
      assert.equal(r.blocks.length, 2, "headers, then trailers");
      const [headers, trailers] = r.blocks.map(fieldMap) as [Record<string, string>, Record<string, string>];
      assert.equal(headers[":status"], "200");
      assert.match(headers["content-type"] ?? "", /^application\/grpc/);
      assert.equal(headers["x-echo-a"], "alpha");
      assert.equal(headers["x-trace-bin"], bin);
      assert.equal(headers["x-pod"], "pod-1");
      assert.equal(r.blocks[1]!.endStream, true);
      assert.equal(trailers["grpc-status"], "0");
      assert.equal(trailers["x-echo-a"], "alpha");
      assert.equal(trailers["x-trace-bin"], bin);
      assert.ok(r.body.equals(request), `body ${r.body.toString("hex")}`);
    });

    test("nghttp server streaming POST: every message, then grpc-status 0", async () => {
      const r = await sameBothWays(echoService.serverStream.path, { ...GRPC, "x-echo-count": "3", "x-echo-size": "100" }, grpcFrame(Buffer.from("s")));
      const expected = Buffer.concat([0, 1, 2].map((i) => grpcFrame(Buffer.alloc(100, i))));
      assert.ok(r.body.equals(expected), `body ${r.body.toString("hex")}`);
      assert.equal(fieldMap(r.blocks.at(-1))["grpc-status"], "0");
    });

    test("nghttp error status: trailers-only, non-ASCII grpc-message percent-encoded", async () => {
      const message = "naïve – 100% ✓";
      const r = await sameBothWays(
        echoService.unary.path,
        { ...GRPC, "x-echo-status": "9", "x-echo-message-bin": Buffer.from(message).toString("base64"), "x-echo-trailers-only": "1" },
        grpcFrame(Buffer.from("x")),
      );
      assert.equal(r.blocks.length, 1, "one HEADERS frame");
      assert.equal(r.blocks[0]!.endStream, true);
      const only = fieldMap(r.blocks[0]);
      assert.equal(only[":status"], "200");
      assert.equal(only["grpc-status"], "9");
      assert.match(only["grpc-message"] ?? "", /^[\x20-\x7e]*$/, "grpc-message is not percent-encoded");
      assert.equal(decodeURIComponent(only["grpc-message"]!), message);
      assert.equal(r.body.length, 0);
    });

    test("nghttp grpc-timeout (the client enforces none): DEADLINE_EXCEEDED, and the pod's call ends", async () => {
      const r = await nghttpPost(
        `http://${proxy.target}${echoService.unary.path}`,
        { ...GRPC, "grpc-timeout": "200m", "x-echo-delay-ms": "10000" },
        grpcFrame(Buffer.from("x")),
      );
      assert.equal(fieldMap(r.blocks.at(-1))["grpc-status"], "4", JSON.stringify(r.blocks));
      assert.equal(r.blocks.at(-1)?.endStream, true);
      await within(5000, "pod still has the timed-out call", podIdle(pod.stats));
    });

    test("h2load: 200 unary gRPC requests on 2 connections x 8 streams all succeed", async () => {
      const before = pod.stats.rpcs;
      const counts = await h2load(
        `http://${proxy.target}${echoService.unary.path}`,
        { requests: 200, clients: 2, streams: 8 },
        GRPC,
        grpcFrame(Buffer.from("h2load")),
      );
      assert.deepEqual(counts, { total: 200, started: 200, done: 200, succeeded: 200, failed: 0, errored: 0, timeout: 0, status2xx: 200 });
      assert.equal(pod.stats.rpcs - before, 200, "every request reached the pod");
    });
  });
}
