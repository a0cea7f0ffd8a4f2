// grpcio (Python, gRPC C-core) client -> sluice -> grpc-js echo pod. Every plan runs twice
// in one client process, straight to the pod and through the proxy, and both runs must
// see exactly the same thing: status, message, headers, trailers, messages.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { listenerYaml, serviceEntryYaml, startPods, startProxy, type Pod, type RunningProxy } from "../support/cluster.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { metadataMap, runPythonClient, type CallOutcome, type PlannedCall } from "./support/python.js";
import { pythonWithGrpc } from "./support/tools.js";
import { podIdle, within } from "./support/wait.js";

const CANCELLED = 1;
const DEADLINE_EXCEEDED = 4;

/** node:http2 adds `date` to the pod's headers; the two runs may straddle a second. */
function withoutDate(o: CallOutcome): CallOutcome {
  const keep = (m: CallOutcome["headers"]): CallOutcome["headers"] => m && m.filter(([k]) => k !== "date");
  return { ...o, headers: keep(o.headers), trailers: keep(o.trailers) };
}

for (const transport of TEST_TRANSPORTS) {
  // No time budget for the whole suite: its five Python client runs take up to 10 s each on a
  // loaded machine; each run has its own limit (runPythonClient), which turns a hang into a failure.
  describe(`grpcio client -> sluice (${transport}) -> grpc-js`, () => {
    let pod: Pod;
    let proxy: RunningProxy;
    let targets: string[];

    before(async () => {
      pythonWithGrpc();
      [pod] = (await startPods(1)) as [Pod];
      proxy = await startProxy(`${listenerYaml(`  transport: ${transport}`)}\n---\n${serviceEntryYaml("echo", [pod.port])}`);
      targets = [`127.0.0.1:${pod.port}`, proxy.target];
    });

    after(async () => {
      await proxy?.stop();
      await pod?.stop();
    });

    /** Runs `calls` direct and through the proxy; asserts both saw the same; returns the proxied outcomes. */
    async function sameBothWays(calls: PlannedCall[], whileOpen?: (o: CallOutcome[][]) => Promise<void>): Promise<CallOutcome[]> {
      const [direct, proxied] = (await runPythonClient(targets, calls, whileOpen)) as [CallOutcome[], CallOutcome[]];
      calls.forEach((c, i) => assert.deepEqual(withoutDate(proxied[i]!), withoutDate(direct[i]!), `call ${i} (${c.method}) differs through the proxy`));
      return proxied;
    }

    test("unary: message bytes, ASCII and -bin metadata in headers and trailers", async () => {
      const payload = randomBytes(64 * 1024);
      const bin = Buffer.from([0, 1, 2, 250, 255]);
      const [r] = await sameBothWays([{ method: "Unary", requests: [payload], metadata: { "x-echo-a": "alpha", "x-trace-bin": bin } }]);
      assert.equal(r!.code, 0, r!.details);
      assert.ok(Buffer.from(r!.messages[0]!, "base64").equals(payload), "response bytes differ");
      const headers = metadataMap(r!.headers);
      const trailers = metadataMap(r!.trailers);
      assert.deepEqual(headers["x-echo-a"], ["alpha"]);
      assert.deepEqual(headers["x-pod"], ["pod-1"]);
      assert.deepEqual(headers["x-trace-bin"], [bin]);
      assert.deepEqual(trailers["x-echo-a"], ["alpha"]);
      assert.deepEqual(trailers["x-trace-bin"], [bin]);
    });

    test("server streaming, client streaming and bidi", async () => {
      const parts = Array.from({ length: 10 }, (_, i) => randomBytes(100 + i));
      const [server, client, bidi] = await sameBothWays([
        { method: "ServerStream", requests: [Buffer.from("s")], metadata: { "x-echo-count": "20", "x-echo-size": "1000" } },
        { method: "ClientStream", requests: parts },
        { method: "Bidi", requests: parts, metadata: { "x-echo-z": "z" } },
      ]);
      assert.equal(server!.code, 0, server!.details);
      assert.deepEqual(
        server!.messages.map((m) => Buffer.from(m, "base64")),
        Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000, i)),
      );
      assert.equal(client!.code, 0, client!.details);
      assert.ok(Buffer.from(client!.messages[0]!, "base64").equals(Buffer.concat(parts)));
      assert.equal(bidi!.code, 0, bidi!.details);
      assert.deepEqual(
        bidi!.messages.map((m) => Buffer.from(m, "base64")),
        parts,
      );
      assert.deepEqual(metadataMap(bidi!.headers)["x-echo-z"], ["z"]);
    });

    test("every status code with a non-ASCII message, with headers and trailers-only", async () => {
      const calls: PlannedCall[] = [];
      const expected: { code: number; message: string }[] = [];
      for (let code = 1; code <= 16; code++) {
        for (const trailersOnly of [false, true]) {
          const message = `failure ${code}: naïve – 100% ünïcödé ✓ \t`;
          const metadata: Record<string, string | Buffer> = { "x-echo-status": String(code), "x-echo-message-bin": Buffer.from(message) };
          if (trailersOnly) metadata["x-echo-trailers-only"] = "1";
          for (const method of ["Unary", "ServerStream"] as const) {
            calls.push({ method, requests: [Buffer.from("x")], metadata: { ...metadata, "x-echo-count": "0" } });
            expected.push({ code, message });
          }
        }
      }
      const outcomes = await sameBothWays(calls);
      outcomes.forEach((r, i) => {
        assert.equal(r.code, expected[i]!.code, `call ${i}: ${r.details}`);
        assert.equal(r.details, expected[i]!.message);
        const trailersOnly = calls[i]!.metadata!["x-echo-trailers-only"] !== undefined;
        assert.deepEqual(metadataMap(r.headers)["x-pod"], trailersOnly ? undefined : ["pod-1"], `call ${i}`);
      });
    });

    test("deadline: a slow pod gives DEADLINE_EXCEEDED and sees its call end", async () => {
      // Not sameBothWays: the message depends on who notices first, grpcio's own timer
      // ("Deadline Exceeded") or the proxy ("deadline exceeded ... in sluice proxy").
      const outcomes = await runPythonClient(
        targets,
        [{ method: "Unary", requests: [Buffer.from("x")], metadata: { "x-echo-delay-ms": "10000" }, timeout: 0.3 }],
        () => within(5000, "pod still has the timed-out call", podIdle(pod.stats)),
      );
      for (const [how, [r]] of [
        ["direct", outcomes[0]!],
        ["proxied", outcomes[1]!],
      ] as const) {
        assert.equal(r!.code, DEADLINE_EXCEEDED, `${how}: ${r!.details}`);
        assert.deepEqual(r!.messages, []);
      }
    });

    test("cancellation: the pod sees a cancelled bidi call end while the client's connection stays open", async () => {
      const rpcsBefore = pod.stats.rpcs;
      const [r] = await sameBothWays([{ method: "Bidi", cancel: "after-headers", metadata: { "x-echo-c": "c" } }], async () => {
        assert.equal(pod.stats.rpcs - rpcsBefore, 2, "both calls reached the pod");
        await within(5000, "pod still has the cancelled call", podIdle(pod.stats));
      });
      assert.equal(r!.code, CANCELLED, r!.details);
      assert.deepEqual(metadataMap(r!.headers)["x-echo-c"], ["c"]);
    });
  });
}
