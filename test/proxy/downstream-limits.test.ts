// The limits on what clients may hold. downstream.maxConcurrentStreams: what the proxy
// advertises as SETTINGS_MAX_CONCURRENT_STREAMS (1,000 by default, not HTTP/2's unlimited),
// and a stream past it is refused (RST_STREAM REFUSED_STREAM: never processed, safe to
// retry) while the streams within the limit carry on. downstream.maxConnections: one
// connection more than it is closed as it arrives (counted), the open ones are served.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SettingId } from "../../src/transport/h2/frames/constants.js";
import { listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import { hang } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { RawClient } from "../transport/h2/support.js";

/** The value of SETTINGS_MAX_CONCURRENT_STREAMS in the first SETTINGS the proxy sent. */
async function advertised(c: RawClient): Promise<number | undefined> {
  await c.until((e) => e.some((l) => l.startsWith("SETTINGS ")));
  const settings = c.events.find((l) => l.startsWith("SETTINGS "))!;
  const m = new RegExp(`(?:^SETTINGS |,)${SettingId.MAX_CONCURRENT_STREAMS}=(\\d+)`).exec(settings);
  return m === null ? undefined : Number(m[1]);
}

for (const transport of TEST_TRANSPORTS) {
  describe(`transport ${transport}`, () => {
    test("the default: 1,000 concurrent streams per client connection", async (t) => {
      const { target } = await proxyWithPods(t, { transport });
      const c = await RawClient.connect(Number(target.split(":")[1]));
      t.after(() => c.close());
      assert.equal(await advertised(c), 1000);
    });

    test("maxConcurrentStreams: 3: advertised, and a 4th stream at once is refused while the 3 carry on", async (t) => {
      const { target, pods } = await proxyWithPods(t, {
        pods: [hang],
        config: (ports) => [listenerYaml(`  downstream: { maxConcurrentStreams: 3 }\n`, transport), serviceEntryYaml("echo", ports)],
      });
      const c = await RawClient.connect(Number(target.split(":")[1]));
      t.after(() => c.close());
      assert.equal(await advertised(c), 3);
      // Wait for the client's SETTINGS to be acknowledged, so that the limit is in force.
      await c.until((e) => e.includes("SETTINGS_ACK"));
      for (const id of [1, 3, 5]) c.request(id, false, { ":authority": "echo" });
      c.flush();
      await pods[0]!.arrived(3);
      c.request(7, false, { ":authority": "echo" });
      c.flush();
      await c.until((e) => e.some((l) => l.startsWith("RST_STREAM s=7")));
      assert.ok(c.events.includes("RST_STREAM s=7 REFUSED_STREAM"), c.events.join("\n"));
      assert.deepEqual(
        c.events.filter((l) => /^RST_STREAM s=[135] /.test(l)),
        [],
        "the streams within the limit are not reset",
      );
    });
  });

  test(`transport ${transport}: maxConnections: 2: a third connection is closed at once and counted; the two are served, and a new one once one has gone`, async (t) => {
    const { target, proxy } = await proxyWithPods(t, {
      config: (ports) => [listenerYaml(`  downstream: { maxConnections: 2 }\n`, transport), serviceEntryYaml("echo", ports)],
    });
    const port = Number(target.split(":")[1]);
    // The proxy-with-pods client has made no call: it holds no connection.
    const [a, b] = [await RawClient.connect(port), await RawClient.connect(port)];
    defer(t, () => [a, b].forEach((c) => c.close()));
    await a.until((e) => e.includes("SETTINGS_ACK"));
    const third = await RawClient.connect(port);
    defer(t, () => third.close());
    await third.closed;
    assert.deepEqual(third.events, [], "the third connection got nothing: closed as it arrived");
    assert.equal(proxy.connectionsOverflowed, 1);
    // b is one of the two: it is served.
    b.request(1, false, { ":authority": "echo" });
    b.writer.data(1, Buffer.from([0, 0, 0, 0, 2, 104, 105]), true);
    b.flush();
    await b.until((e) => e.some((l) => l.startsWith("HEADERS s=1 end=true")));
    // Once a has gone (the proxy has seen it close), there is room again.
    const closedBefore = proxy.connectionsClosed;
    a.close();
    while (proxy.connectionsClosed === closedBefore) await new Promise((resolve) => setImmediate(resolve));
    const fourth = await RawClient.connect(port);
    defer(t, () => fourth.close());
    await fourth.until((e) => e.includes("SETTINGS_ACK") || fourth.socket.destroyed);
    assert.ok(fourth.events.includes("SETTINGS_ACK"), "a new connection is served once one closed");
  });
}
