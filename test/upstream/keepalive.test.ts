// Upstream keepalive: a backend that stops answering (a child process under SIGSTOP) is
// found out within keepalive time + timeout; its connection is closed, the endpoint goes to
// TRANSIENT_FAILURE, and new requests go to the other backends. The ping interval runs on an
// injected clock; the ping timeout is the transport's own (real, short) timer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { ManualClock } from "../../src/core/clock.js";
import { seededRandom } from "../../src/core/random.js";
import { SluiceError } from "../../src/core/errors.js";
import { callUnary } from "../../src/demo/echo-client.js";
import { createClientTransport } from "../../src/transport/create.js";
import { ConnectFailure, EndpointPool, PoolState, type PoolSettings } from "../../src/upstream/endpoint-pool.js";
import { childPod } from "../support/child-pod.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyInFront } from "../support/proxy-with-pods.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

function poolSettings(clock: ManualClock, events: EventEmitter): PoolSettings {
  return {
    cluster: "test",
    connectTimeoutMs: 10_000,
    maxRequestsPerConnection: 0,
    maxConcurrentStreams: 1000,
    maxConnections: 10,
    idleTimeoutMs: 3_600_000,
    maxConnectionDurationMs: null,
    keepalive: { timeMs: 30_000, timeoutMs: 300 },
    pending: { limit: Infinity, count: 0, overflows: 0 },
    clock,
    random: seededRandom(1),
    observer: { stateChanged: (_from, to) => events.emit("state", to) },
  };
}

for (const kind of TEST_TRANSPORTS) {
  test(`${kind}: pings at keepalive.time; an answered ping keeps the connection, an unanswered one fails the endpoint`, async (t) => {
    const clock = new ManualClock();
    const events = new EventEmitter();
    // In a process of its own, so it can be stopped with SIGSTOP.
    const { port, child } = await childPod(t, "child");
    const pool = new EndpointPool("127.0.0.1", port, poolSettings(clock, events), createClientTransport(kind, { initialWindowSize: 1 << 20 }));
    defer(t, () => pool.close());
    const conn = await new Promise((resolve) => pool.acquire(resolve));
    assert.ok(!(conn instanceof SluiceError));
    assert.equal(pool.state, PoolState.READY);
    // Answered: nothing changes, through several intervals (each ACK arms the next ping).
    const pinged = (conn as { conn: { ping: (cb: (ok: boolean) => void, timeoutMs: number) => void } }).conn;
    const ping = pinged.ping.bind(pinged);
    const acks = new EventEmitter();
    pinged.ping = (cb, timeoutMs) => ping((ok) => (acks.emit("ack", ok), cb(ok)), timeoutMs);
    for (let i = 0; i < 3; i++) {
      const acked = once(acks, "ack");
      clock.advance(30_000);
      assert.deepEqual(await acked, [true]);
    }
    assert.equal(pool.state, PoolState.READY);
    // Stopped: the next ping goes unanswered; 300 ms later the endpoint is failing.
    child.kill("SIGSTOP");
    const failing = once(events, "state", { signal: AbortSignal.timeout(10_000) });
    clock.advance(30_000);
    assert.deepEqual(await failing, [PoolState.TRANSIENT_FAILURE]);
    const next = await new Promise((resolve) => pool.acquire(resolve));
    assert.ok(next instanceof ConnectFailure);
    assert.match(next.message, /keepalive ping unanswered for 300ms/);
    // It backs off as after a failed connect: a full backoff (1 s +-20%) from now, not from
    // the long-ago connect of the connection that died (which left no wait at all).
    clock.advance(790);
    assert.equal(pool.state, PoolState.TRANSIENT_FAILURE);
    clock.advance(420);
    assert.equal(pool.state, PoolState.IDLE);
  });

  test(`${kind}: through the proxy, RPCs move off a backend that stopped answering`, async (t) => {
    const clock = new ManualClock();
    const stopping = await childPod(t, "child");
    const [pod] = await scriptedPods(t, 1);
    const h = await proxyInFront(t, [stopping, pod!], {
      config: (ports) => [
        listenerYaml("  upstream:\n    keepalive: { time: 30s, timeout: 300ms }\n", kind),
        serviceEntryYaml("echo", ports),
        destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }"),
      ],
      deps: { clock },
    });
    for (let i = 0; i < 4; i++) assert.equal((await callUnary(h.client, Buffer.from("warm"))).code, grpc.status.OK);
    stopping.child.kill("SIGSTOP");
    const cluster = h.cluster();
    const stopped = cluster.endpointList().find((e) => e.port === stopping.port)!.key;
    const failed = new Promise<void>((resolve) => {
      const onState = (key: string, to: PoolState): void => {
        if (key !== stopped || to !== PoolState.TRANSIENT_FAILURE) return;
        cluster.events.off("endpoint-state", onState);
        resolve();
      };
      cluster.events.on("endpoint-state", onState);
    });
    clock.advance(30_000);
    await failed;
    const before = pod!.stats.rpcs;
    for (let i = 0; i < 6; i++) {
      const r = await callUnary(h.client, Buffer.from(`after-${i}`));
      assert.equal(r.code, grpc.status.OK, r.details);
    }
    assert.equal(pod!.stats.rpcs - before, 6, "every RPC went to the backend that answers");
  });
}
