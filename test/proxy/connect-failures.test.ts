// Upstream connects that fail while requests wait for them. The pool opens connections in
// parallel for the requests queued on an endpoint: one refused connect fails none of them
// while another attempt may still come up; they fail only when no attempt is left. A TCP
// front before a grpc-js pod decides the fate of each connection the proxy opens: refused
// (reset) or let through, in the order the test says.
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import net, { type AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { createClientTransport } from "../../src/transport/create.js";
import type { ClientTransport } from "../../src/transport/types.js";
import { destinationRuleYaml, listenerYaml, retriesYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyInFront } from "../support/proxy-with-pods.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

/** A TCP front for a pod: each connection it accepts waits until the test refuses it (a reset) or lets it through. */
interface Front {
  readonly port: number;
  /** Resolves with the first `n` connections accepted, in order. */
  accepted(n: number): Promise<net.Socket[]>;
  refuse(socket: net.Socket): void;
  pass(socket: net.Socket): void;
}

async function front(t: TestContext, podPort: number): Promise<Front> {
  const sockets: net.Socket[] = [];
  const events = new EventEmitter();
  const server = net.createServer((s) => {
    s.on("error", () => undefined);
    sockets.push(s);
    events.emit("accepted");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  defer(t, () => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    accepted: async (n) => {
      while (sockets.length < n) await once(events, "accepted");
      return sockets.slice(0, n);
    },
    refuse: (s) => s.resetAndDestroy(),
    pass: (s) => {
      const pod = net.connect(podPort, "127.0.0.1");
      pod.on("error", () => s.destroy());
      s.on("close", () => pod.destroy());
      pod.on("close", () => s.destroy());
      s.pipe(pod).pipe(s);
    },
  };
}

/** The proxy's transport, telling `closes` each time a connection's close has been handled by its pool. */
function watchedTransport(inner: ClientTransport, closes: EventEmitter): ClientTransport {
  return {
    connect: (target, listener) =>
      inner.connect(target, {
        onReady: () => listener.onReady(),
        onGoaway: (code) => listener.onGoaway(code),
        onClose: (error) => {
          listener.onClose(error);
          closes.emit("closed");
        },
      }),
  };
}

/** Two connections at most, one stream each: two requests waiting make two connects in parallel. */
const TWO_CONNECTIONS = destinationRuleYaml("echo", "    connectionPool:\n      tcp: { maxConnections: 2 }\n      http: { maxConcurrentStreams: 1 }\n");
const NO_RETRIES = retriesYaml("echo", "{ attempts: 0 }");

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    for (const retries of ["Istio's default retries", "retries off"] as const) {
      test(`${retries}: one of two parallel connects refused, the other up later: both requests waiting are served, none retried`, async (t) => {
        const [pod] = await scriptedPods(t, 1);
        const gate = await front(t, pod!.port);
        const closes = new EventEmitter();
        const h = await proxyInFront(t, [gate], {
          config: (ports) => [
            listenerYaml("", transport),
            serviceEntryYaml("echo", ports),
            TWO_CONNECTIONS,
            ...(retries === "retries off" ? [NO_RETRIES] : []),
          ],
          deps: { transport: watchedTransport(createClientTransport(transport, { initialWindowSize: 1 << 20 }), closes) },
        });
        const calls = [callUnary(h.client, Buffer.from("a")), callUnary(h.client, Buffer.from("b"))];
        const [first, second] = await gate.accepted(2);
        const closed = once(closes, "closed");
        gate.refuse(second!);
        await closed; // the pool has taken the failure in
        gate.pass(first!);
        const results = await Promise.all(calls);
        assert.deepEqual(
          results.map((r) => [r.code, r.details]),
          [
            [grpc.status.OK, "OK"],
            [grpc.status.OK, "OK"],
          ],
        );
        assert.equal(pod!.stats.rpcs, 2);
        const { retries: retried, transparent } = h.cluster().stats.retry;
        assert.deepEqual({ retried, transparent }, { retried: 0, transparent: 0 }, "the requests waited: nothing to retry");
      });
    }

    test("retries off: both parallel connects refused: the requests waiting fail once the last attempt has failed", async (t) => {
      const [pod] = await scriptedPods(t, 1);
      const gate = await front(t, pod!.port);
      const closes = new EventEmitter();
      const h = await proxyInFront(t, [gate], {
        config: (ports) => [listenerYaml("", transport), serviceEntryYaml("echo", ports), TWO_CONNECTIONS, NO_RETRIES],
        deps: { transport: watchedTransport(createClientTransport(transport, { initialWindowSize: 1 << 20 }), closes) },
      });
      const calls = [callUnary(h.client, Buffer.from("a")), callUnary(h.client, Buffer.from("b"))];
      const [first, second] = await gate.accepted(2);
      const closed = once(closes, "closed");
      gate.refuse(second!);
      await closed;
      gate.refuse(first!);
      for (const r of await Promise.all(calls)) {
        assert.equal(r.code, grpc.status.UNAVAILABLE);
        assert.match(r.details, /^upstream connect error: /);
      }
      assert.equal(pod!.stats.rpcs, 0);
    });
  });
