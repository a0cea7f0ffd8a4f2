// What a client does must not count against a backend: outlier detection ejects an endpoint
// for its own failures, never for the client's. A request the backend would refuse as
// malformed (no :authority) is refused by the proxy before any backend sees it; an RPC whose
// own deadline (grpc-timeout) passes while the backend works on it is the client giving up.
// The route's timeout, the operator's, still counts. Ejection after one failure
// (consecutive5xxErrors: 1, maxEjectionPercent: 100) makes each count visible.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ManualClock } from "../../src/core/clock.js";
import { callUnary } from "../../src/demo/echo-client.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import { hang } from "../support/scripted-pods.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { RawClient } from "../transport/h2/support.js";

const HOUR = 3_600_000;

function setup(t: Parameters<typeof proxyWithPods>[0], transport: "h2" | "node", routeTimeout: string) {
  const clock = new ManualClock();
  return proxyWithPods(t, {
    pods: [hang],
    deps: { clock },
    config: (ports) => [
      listenerYaml("", transport),
      serviceEntryYaml("echo", ports),
      destinationRuleYaml("echo", "    outlierDetection: { consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100 }\n"),
      `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: echo }\nspec:\n  hosts: [echo]\n  http:\n  - retries: { attempts: 0 }\n${routeTimeout}    route: [{ destination: { host: echo } }]`,
    ],
  }).then((h) => ({ ...h, clock }));
}

for (const transport of TEST_TRANSPORTS) {
  describe(`transport ${transport}`, () => {
    test("the client's deadline passing while the backend has the RPC: DEADLINE_EXCEEDED, and the endpoint is not ejected", async (t) => {
      const h = await setup(t, transport, "");
      const key = `127.0.0.1:${h.pods[0]!.port}`;
      const call = callUnary(h.client, Buffer.from("x"), new grpc.Metadata(), { deadline: Date.now() + HOUR });
      await h.pods[0]!.arrived(1);
      h.clock.advance(HOUR + 1000);
      assert.equal((await call).code, grpc.status.DEADLINE_EXCEEDED);
      assert.equal(h.cluster().isExcluded(key, "ejected"), false);
    });

    test("the route's timeout passing (the operator's deadline): DEADLINE_EXCEEDED, and it counts: ejected", async (t) => {
      const h = await setup(t, transport, "    timeout: 3600s\n");
      const key = `127.0.0.1:${h.pods[0]!.port}`;
      const call = callUnary(h.client, Buffer.from("x"));
      await h.pods[0]!.arrived(1);
      h.clock.advance(HOUR + 1000);
      assert.equal((await call).code, grpc.status.DEADLINE_EXCEEDED);
      assert.equal(h.cluster().isExcluded(key, "ejected"), true);
    });

    test("requests without :authority: refused by the proxy (RST_STREAM PROTOCOL_ERROR), no backend sees one, nothing is ejected", async (t) => {
      const h = await setup(t, transport, "");
      const key = `127.0.0.1:${h.pods[0]!.port}`;
      const c = await RawClient.connect(Number(h.target.split(":")[1]));
      t.after(() => c.close());
      // The raw client's requests carry :authority "test"; these leave it out.
      for (let i = 0; i < 12; i++) {
        const block = c.headerBlock({
          ":method": "POST",
          ":scheme": "http",
          ":path": "/sluice.demo.Echo/Unary",
          "content-type": "application/grpc",
          te: "trailers",
        });
        c.writer.headers(1 + 2 * i, block, true);
      }
      c.flush();
      await c.until((e) => e.filter((l) => l.startsWith("RST_STREAM")).length >= 12 || e.some((l) => l.startsWith("GOAWAY")));
      assert.deepEqual(
        c.events.filter((l) => l.startsWith("RST_STREAM")),
        Array.from({ length: 12 }, (_, i) => `RST_STREAM s=${1 + 2 * i} PROTOCOL_ERROR`),
      );
      assert.equal(h.pods[0]!.calls, 0);
      assert.equal(h.cluster().isExcluded(key, "ejected"), false);
    });
  });
}
