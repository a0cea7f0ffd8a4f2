// Cancels pass to the backend one for one, and a grpc-js backend (nghttp2 under it) ends a
// connection on which its client reset about 1,000 streams, failing every stream on it with
// GOAWAY INTERNAL_ERROR: other clients' RPCs sharing that upstream connection failed, counted
// against the backend, and outlier detection ejected it. The pool now moves to a new
// connection after MAX_RESETS_PER_CONNECTION cancels; the old one only finishes its streams.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { H2Code } from "../../src/transport/types.js";
import { MAX_RESETS_PER_CONNECTION } from "../../src/upstream/endpoint-pool.js";
import { listenerYaml, md, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import type { Arrival } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { RawClient } from "../transport/h2/support.js";

/**
 * Cancels in all: well past nghttp2's ~1,000, spread over connections that each stay under
 * the proxy's own rapid-reset guard (100 premature resets per connection).
 */
const CANCELS = 1500;
const PER_CONNECTION = 90;
const NORMAL_RPCS = 4;

for (const transport of TEST_TRANSPORTS) {
  test(`${transport}: ${CANCELS} cancelled streams from other clients: RPCs sharing the upstream connection all succeed, on a connection renewed every ${MAX_RESETS_PER_CONNECTION} cancels`, async (t) => {
    const held: Arrival[] = [];
    const setup = await proxyWithPods(t, {
      // Normal calls are held until the test lets them answer; the others hang until cancelled.
      pods: [(call) => (call.metadata.get("x-normal").length > 0 ? held.push(call) : undefined)],
      config: (ports) => [listenerYaml(`  downstream: { maxPrematureCancelsPerSecond: 100000 }\n`, transport), serviceEntryYaml("echo", ports)],
    });
    const { target, pods, client } = setup;
    const normal = Array.from({ length: NORMAL_RPCS }, (_, i) => callUnary(client, Buffer.from(`normal ${i}`), md({ "x-normal": "1" })));
    await pods[0]!.arrived(NORMAL_RPCS);
    const port = Number(target.split(":")[1]);
    let arrivals = NORMAL_RPCS;
    for (let sent = 0; sent < CANCELS;) {
      const c = await RawClient.connect(port);
      defer(t, () => c.close());
      await c.until((e) => e.includes("SETTINGS_ACK"));
      for (let i = 0; i < PER_CONNECTION && sent < CANCELS; i++, sent++) {
        const id = 1 + 2 * i;
        c.request(id, false, { ":authority": "echo" });
        c.flush();
        // The backend has it, or the proxy answered it (it failed: the backend had ended the connection).
        const answered = c.until((e) => e.some((l) => l.startsWith(`HEADERS s=${id} `) || l.startsWith(`RST_STREAM s=${id} `)));
        if ((await Promise.race([pods[0]!.arrived(arrivals + 1).then(() => true), answered.then(() => false)])) === false) continue;
        arrivals++;
        c.writer.rstStream(id, H2Code.CANCEL);
        c.flush();
      }
    }
    // The backend has seen every cancel by the time a new call arrives behind them.
    const late = callUnary(client, Buffer.from("after"), md({ "x-normal": "1" }));
    await pods[0]!.arrived(++arrivals);
    for (const call of held) call.echo();
    for (const r of [...(await Promise.all(normal)), await late]) assert.equal(r.code, grpc.status.OK, r.details);
    const cluster = setup.cluster();
    const pool = cluster.existingPool(cluster.endpointList()[0]!.key)!;
    assert.ok(pool.connectionsOpened >= Math.floor(CANCELS / MAX_RESETS_PER_CONNECTION), `${pool.connectionsOpened} upstream connections`);
  });
}
