// Rapid reset spread over connections: the process's budget of upstream streams that clients
// cancel within a second of opening them (downstream.maxPrematureCancelsPerSecond). Each
// connection here stays far inside the transport's own per-connection allowance; only the
// process's budget can see them together. Driven by a manual clock: the budget refills by it,
// and a stream's age is measured by it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.js";
import { callUnary } from "../../src/demo/echo-client.js";
import { H2Code } from "../../src/transport/types.js";
import { listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import { echo, hang } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { RawClient } from "../transport/h2/support.js";

const BUDGET = 3;
const GRPC_HELLO = Buffer.from([0, 0, 0, 0, 2, 104, 105]);

for (const transport of TEST_TRANSPORTS) {
  test(`${transport}: maxPrematureCancelsPerSecond ${BUDGET}: the cancel that overdraws it closes its connection (ENHANCE_YOUR_CALM); a late cancel costs nothing; the budget refills; the others serve on`, async (t) => {
    const clock = new ManualClock();
    let ended = 0;
    const endWaiters: Array<() => void> = [];
    const { target, pods, proxy, client } = await proxyWithPods(t, {
      pods: [hang],
      deps: {
        clock,
        onRpcEnd: () => {
          ended++;
          for (const w of endWaiters.splice(0)) w();
        },
      },
      config: (ports) => [listenerYaml(`  downstream: { maxPrematureCancelsPerSecond: ${BUDGET} }\n`, transport), serviceEntryYaml("echo", ports)],
    });
    const port = Number(target.split(":")[1]);
    const rpcsEnded = async (n: number): Promise<void> => {
      while (ended < n) await new Promise<void>((resolve) => endWaiters.push(resolve));
    };
    const clients: RawClient[] = [];
    defer(t, () => clients.forEach((c) => c.close()));
    const connect = async (): Promise<RawClient> => {
      const c = await RawClient.connect(port);
      clients.push(c);
      await c.until((e) => e.includes("SETTINGS_ACK"));
      return c;
    };
    let arrivals = 0;
    /** Opens stream `id` on `c` and waits until the backend has it: the proxy opened it upstream. */
    const open = async (c: RawClient, id: number): Promise<void> => {
      c.request(id, false, { ":authority": "echo" });
      c.flush();
      await pods[0]!.arrived(++arrivals);
    };
    /** Cancels stream `id` and waits until the proxy has ended its RPC. */
    const cancel = async (c: RawClient, id: number): Promise<void> => {
      const before = ended;
      c.writer.rstStream(id, H2Code.CANCEL);
      c.flush();
      await rpcsEnded(before + 1);
    };
    const goaway = (c: RawClient): string | undefined => c.events.find((l) => l.startsWith("GOAWAY"));

    // A stream opened now and cancelled a second later: not premature.
    const late = await connect();
    await open(late, 1);
    clock.advance(1000);
    // BUDGET fresh cancels, each on a connection of its own: within the budget.
    const within: RawClient[] = [];
    for (let i = 0; i < BUDGET; i++) {
      const c = await connect();
      await open(c, 1);
      await cancel(c, 1);
      within.push(c);
    }
    // The budget is spent: the late cancel still costs nothing...
    await cancel(late, 1);
    // ...and the next fresh one closes its connection.
    const over = await connect();
    await open(over, 1);
    // A second stream, reset by the close itself: counted with it, not again.
    await open(over, 3);
    const endedBefore = ended;
    await cancel(over, 1);
    // A PING after the cancel: a connection left open answers it, a closed one has sent GOAWAY first.
    over.writer.ping(Buffer.alloc(8, 1), false);
    over.flush();
    await over.until((e) => e.some((l) => l.startsWith("GOAWAY") || l.startsWith("PING ack=true")));
    assert.match(goaway(over)!, /^GOAWAY last=\d+ ENHANCE_YOUR_CALM/);
    await over.closed;
    await rpcsEnded(endedBefore + 2); // stream 1's RPC, and stream 3's, ended by the close
    assert.equal(proxy.connectionsClosedForCancels, 1, "one connection closed, counted once");

    // A second later the budget has refilled: a fresh cancel is allowed again.
    clock.advance(1000);
    const refilled = await connect();
    await open(refilled, 1);
    await cancel(refilled, 1);
    assert.equal(proxy.connectionsClosedForCancels, 1);

    // Every connection but the one that overdrew serves on, and so does a grpc-js client.
    pods[0]!.script = echo;
    for (const c of [late, ...within, refilled]) {
      c.request(3, false, { ":authority": "echo" });
      c.writer.data(3, GRPC_HELLO, true);
      c.flush();
      await c.until((e) => e.some((l) => l.startsWith("HEADERS s=3 end=true")) || c.socket.destroyed);
      assert.equal(goaway(c), undefined, c.events.join("\n"));
      assert.ok(
        c.events.some((l) => /^HEADERS s=3 end=true/.test(l)),
        c.events.join("\n"),
      );
    }
    assert.equal((await callUnary(client, Buffer.from("still served"))).code, 0);
  });
}
