// Downstream connection management with real grpc-js clients (and a raw HTTP/2 client where
// a misbehaving peer is needed): gRFC A9 maxConnectionIdle / maxConnectionAge / grace, gRFC
// A8 keepalive enforcement (too_many_pings) and the proxy's own keepalive pings. Timers run
// on a ManualClock wherever the other side does not ping in real time itself.
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { ManualClock } from "../../src/core/clock.js";
import { callUnary } from "../../src/demo/echo-client.js";
import type { LifetimeEvent } from "../../src/proxy/downstream-lifetime.js";
import type { ProxyDeps } from "../../src/proxy/proxy.js";
import type { TransportKind } from "../../src/config/types.js";
import { bidi } from "../support/calls.js";
import { listenerYaml, serviceEntryYaml, type Pod } from "../support/cluster.js";
import { proxyWithPods, type ProxyWithPods } from "../support/proxy-with-pods.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { RawClient } from "../transport/h2/support.js";

const hex = (s: string): string => Buffer.from(s).toString("hex");
const TOO_MANY_PINGS = `ENHANCE_YOUR_CALM ${hex("too_many_pings")}`;

/** Lifetime events as they come, with a way to wait for one. */
class Events {
  readonly list: LifetimeEvent[] = [];
  private waiters: Array<() => void> = [];
  readonly hook = (e: LifetimeEvent): void => {
    this.list.push(e);
    for (const w of this.waiters.splice(0)) w();
  };
  count(kind: LifetimeEvent["kind"]): number {
    return this.list.filter((e) => e.kind === kind).length;
  }
  /** The strikes each ping had, and the reasons connections were closed, in order. */
  story(from = 0): Array<number | string> {
    return this.list
      .slice(from)
      .filter((e) => e.kind !== "closed" && e.kind !== "idle-start")
      .map((e) => (e.kind === "ping" ? e.strikes : e.kind));
  }
  /** Resolves when `n` events of `kind` have come. */
  counted(kind: LifetimeEvent["kind"], n: number): Promise<void> {
    return this.until(() => this.count(kind) >= n);
  }
  async until(pred: (events: readonly LifetimeEvent[]) => boolean): Promise<void> {
    while (!pred(this.list)) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

interface Setup extends ProxyWithPods {
  readonly pod: Pod;
  readonly events: Events;
  /** The proxy's port, for raw clients. */
  readonly port: number;
}

/** One echo pod behind a proxy whose Proxy resource gets `downstream` (YAML under spec.downstream). */
async function setup(t: TestContext, transport: TransportKind, downstream: string, deps: ProxyDeps = {}): Promise<Setup> {
  const events = new Events();
  // The hour-long idle timeout of the defaults is off unless a test sets one: its events would
  // join the story of the tests about the other rules (whose clocks move by hours).
  const settings = downstream.includes("maxConnectionIdle") ? downstream : [downstream, "maxConnectionIdle: 0s"].filter((l) => l !== "").join("\n");
  const spec = `  downstream:\n${settings.replace(/^/gm, "    ")}\n`;
  const h = await proxyWithPods(t, {
    config: (ports) => [listenerYaml(spec, transport), serviceEntryYaml("echo", ports)],
    deps: { random: () => 0.5, onLifetimeEvent: events.hook, ...deps },
  });
  return { ...h, pod: h.pods[0]!, events, port: Number(h.target.split(":")[1]) };
}

/** A raw HTTP/2 client's gRPC request for the echo pod: one message, `end` = half-close. */
function rawRpc(c: RawClient, id: number, method: "Unary" | "Bidi", end: boolean): void {
  c.request(id, false, { ":path": `/sluice.demo.Echo/${method}`, ":authority": "echo" });
  c.writer.data(id, Buffer.from([0, 0, 0, 0, 1, 0x78]), end);
  c.flush();
}

/** A raw client the proxy has accepted (its SETTINGS came back), so the clock may move. */
async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  await c.until((e) => e.some((l) => l.startsWith("SETTINGS ")));
  return c;
}

function ping(c: RawClient, n: number): void {
  c.writer.ping(Buffer.alloc(8, n), false);
  c.flush();
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    describe("gRFC A9: maxConnectionAge and maxConnectionAgeGrace", () => {
      test("connections cycle at their age while RPCs run: none fails, the client reconnects", async (t) => {
        const clock = new ManualClock();
        const s = await setup(t, transport, "maxConnectionAge: 10s", { clock });
        const client = s.client;
        let started = 0;
        let done = 0;
        const failures: string[] = [];
        const worker = async (): Promise<void> => {
          while (started < 200) {
            started++;
            const r = await callUnary(client, Buffer.from("x"));
            if (r.code !== 0) failures.push(`${r.code} ${r.details}`);
            // random 0.5: no jitter, the age is exactly 10 s.
            if (++done % 40 === 0) clock.advance(10_000);
          }
        };
        await Promise.all(Array.from({ length: 4 }, worker));
        assert.deepEqual(failures, []);
        assert.equal(s.proxy.lifetime.stats.maxAgeDrains, 5);
        assert.ok(s.proxy.connectionsAccepted >= 5, `only ${s.proxy.connectionsAccepted} connections`);
      });

      for (const { random, early, due } of [
        { random: 0, early: 8_999, due: 9_000 },
        { random: 0.999, early: 10_997, due: 11_000 },
      ]) {
        test(`age is jittered by up to 10%: random ${random} sends GOAWAY at ${due} ms, not at ${early} ms`, async (t) => {
          const clock = new ManualClock();
          const s = await setup(t, transport, "maxConnectionAge: 10s", { clock, random: () => random });
          assert.equal((await callUnary(s.client, Buffer.from("x"))).code, 0);
          clock.advance(early);
          assert.equal(s.events.count("max-age"), 0, `random ${random}: GOAWAY before ${early} ms`);
          clock.advance(due - early);
          assert.equal(s.events.count("max-age"), 1, `random ${random}: no GOAWAY at ${due} ms`);
        });
      }

      test("a streaming RPC goes on through the grace period, new RPCs take a new connection, then it is cut", async (t) => {
        const clock = new ManualClock();
        const s = await setup(t, transport, "maxConnectionAge: 10s\nmaxConnectionAgeGrace: 5s", { clock });
        const client = s.client;
        const call = bidi(client);
        assert.equal(await call.echo("one"), "one");
        clock.advance(10_000);
        assert.equal(s.events.count("max-age"), 1);
        assert.equal(await call.echo("two"), "two", "in-flight RPC continues after GOAWAY");
        assert.equal((await callUnary(client, Buffer.from("new"))).code, 0);
        assert.equal(s.proxy.connectionsAccepted, 2, "the new RPC went over a new connection");
        const podDone = once(s.pod.stats.events, "end");
        clock.advance(4_999);
        assert.equal(s.events.count("grace-expired"), 0);
        clock.advance(1);
        assert.equal(s.events.count("grace-expired"), 1);
        const status = await call.status;
        assert.equal(status.code, grpc.status.UNAVAILABLE, status.details);
        await podDone; // the backend's stream was cancelled too
        assert.equal((await callUnary(client, Buffer.from("after"))).code, 0);
      });

      test("a streaming RPC that ends within the grace period ends well", async (t) => {
        const clock = new ManualClock();
        const s = await setup(t, transport, "maxConnectionAge: 10s\nmaxConnectionAgeGrace: 5s", { clock });
        const client = s.client;
        const call = bidi(client);
        assert.equal(await call.echo("one"), "one");
        clock.advance(10_000);
        assert.equal(await call.echo("two"), "two");
        assert.equal((await call.end()).code, grpc.status.OK);
        await s.events.counted("closed", 1); // the drained connection closes with its last stream
        clock.advance(5_000);
        assert.equal(s.events.count("grace-expired"), 0, "the connection had closed already");
      });
    });

    describe("gRFC A9: maxConnectionIdle", () => {
      test("a connection without RPCs for maxConnectionIdle is closed; RPCs in between or in flight keep it", async (t) => {
        const clock = new ManualClock();
        const s = await setup(t, transport, "maxConnectionIdle: 10s", { clock });
        const client = s.client;
        // node:http2 reports a stream's close a little after the client has its status: each
        // step waits for the proxy to see the RPC gone ("idle-start") before moving the clock.
        assert.equal((await callUnary(client, Buffer.from("a"))).code, 0);
        await s.events.counted("idle-start", 1);
        clock.advance(6_000);
        assert.equal((await callUnary(client, Buffer.from("b"))).code, 0);
        await s.events.counted("idle-start", 2);
        clock.advance(6_000);
        assert.equal(s.events.count("idle"), 0, "an RPC 6 s ago: not idle for 10 s yet");
        const call = bidi(client);
        assert.equal(await call.echo("long"), "long");
        clock.advance(60_000);
        assert.equal(s.events.count("idle"), 0, "an RPC in flight: not idle");
        assert.equal((await call.end()).code, grpc.status.OK);
        await s.events.counted("idle-start", 3);
        clock.advance(9_999);
        assert.equal(s.events.count("idle"), 0);
        clock.advance(1);
        assert.equal(s.events.count("idle"), 1);
        assert.equal(s.proxy.lifetime.stats.idleTimeouts, 1);
        assert.equal((await callUnary(client, Buffer.from("c"))).code, 0, "the client reconnects");
        assert.equal(s.proxy.connectionsAccepted, 2);
      });
    });

    describe("gRFC A8: keepalive enforcement", () => {
      test("three early pings: GOAWAY ENHANCE_YOUR_CALM too_many_pings and close (defaults)", async (t) => {
        const clock = new ManualClock();
        const s = await setup(t, transport, "", { clock });
        const c = await connect(s.port);
        for (let i = 1; i <= 2; i++) {
          ping(c, i);
          await s.events.counted("ping", i);
        }
        assert.equal(c.goaway(), undefined);
        ping(c, 3);
        await c.closed;
        assert.match(c.goaway() ?? "", new RegExp(`^GOAWAY last=0 ${TOO_MANY_PINGS}$`), c.events.join("\n"));
        assert.deepEqual(s.events.story(), [1, 2, 3, "too-many-pings"]);
        assert.equal(s.proxy.lifetime.stats.tooManyPings, 1);
      });

      test("without calls a client may ping every 2 h, with calls (or permitWithoutCalls) every minPingInterval", async (t) => {
        const clock = new ManualClock();
        const s = await setup(t, transport, "keepalive: {minPingInterval: 1m}", { clock });
        // With an RPC in flight: a ping a minute is fine.
        const busy = await connect(s.port);
        rawRpc(busy, 1, "Bidi", false);
        await busy.until((e) => e.some((l) => l.startsWith("DATA s=1")));
        for (let i = 1; i <= 5; i++) {
          clock.advance(60_000);
          ping(busy, i);
          await s.events.counted("ping", i);
        }
        assert.deepEqual(s.events.story(), [0, 0, 0, 0, 0]);
        busy.close();
        // Without: every 6 minutes is too often.
        const idle = await connect(s.port);
        for (let i = 1; i <= 3; i++) {
          clock.advance(6 * 60_000);
          ping(idle, i);
        }
        await idle.closed;
        assert.match(idle.goaway() ?? "", new RegExp(TOO_MANY_PINGS));
        // Every 2 hours is not.
        const patient = await connect(s.port);
        const before = s.events.list.length;
        const pingsBefore = s.events.count("ping");
        for (let i = 1; i <= 3; i++) {
          clock.advance(2 * 60 * 60_000);
          ping(patient, i);
          await s.events.counted("ping", pingsBefore + i);
        }
        assert.deepEqual(s.events.story(before), [0, 0, 0]);
        patient.close();
      });

      test("permitWithoutCalls: true lets a client without calls ping every minPingInterval", async (t) => {
        const clock = new ManualClock();
        const s = await setup(t, transport, "keepalive: {minPingInterval: 1m, permitWithoutCalls: true}", { clock });
        const c = await connect(s.port);
        for (let i = 1; i <= 5; i++) {
          clock.advance(60_000);
          ping(c, i);
          await s.events.counted("ping", i);
        }
        assert.deepEqual(s.events.story(), [0, 0, 0, 0, 0]);
        assert.equal(c.goaway(), undefined);
        c.close();
      });

      test("HEADERS or DATA sent to the client forgive its strikes (as grpc-go does)", async (t) => {
        const clock = new ManualClock();
        const s = await setup(t, transport, "", { clock });
        const c = await connect(s.port);
        ping(c, 1);
        ping(c, 2);
        await s.events.counted("ping", 2);
        rawRpc(c, 1, "Unary", true);
        await c.until((e) => e.some((l) => l.startsWith("HEADERS s=1 end=true")));
        for (let i = 3; i <= 5; i++) {
          ping(c, i);
          await s.events.counted("ping", i);
        }
        assert.deepEqual(s.events.story(), [1, 2, 0, 1, 2]);
        assert.equal(c.goaway(), undefined);
        c.close();
      });

      test("a grpc-js client pinging every second: GOAWAY too_many_pings at the defaults, none with permissive settings", async (t) => {
        const strict = await setup(t, transport, "");
        const lax = await setup(t, transport, "keepalive: {minPingInterval: 500ms, permitWithoutCalls: true}");
        const options = { "grpc.keepalive_time_ms": 1000, "grpc.keepalive_permit_without_calls": 1 };
        const strictClient = strict.newClient(options);
        const laxClient = lax.newClient(options);
        const ready = (c: grpc.Client): Promise<void> =>
          new Promise((resolve, reject) => c.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())));
        await Promise.all([ready(strictClient), ready(laxClient)]);
        // The strict proxy closes after the third ping; the lax one takes as many.
        await Promise.all([strict.events.counted("too-many-pings", 1), lax.events.counted("ping", 3)]);
        assert.equal(strict.proxy.lifetime.stats.tooManyPings, 1);
        assert.equal(lax.proxy.lifetime.stats.tooManyPings, 0);
        assert.deepEqual(lax.events.story().slice(0, 3), [0, 0, 0]);
        assert.equal(lax.proxy.connectionsAccepted, 1);
        assert.equal(laxClient.getChannel().getConnectivityState(false), grpc.connectivityState.READY);
        assert.equal((await callUnary(laxClient, Buffer.from("x"))).code, 0);
      });
    });

    describe("gRFC A8: the proxy's own keepalive pings", () => {
      test("a client that stops answering PINGs is closed and its RPC upstream cancelled", async (t) => {
        const clock = new ManualClock();
        const s = await setup(t, transport, "keepalive: {time: 1m, timeout: 100ms}", { clock });
        const c = await connect(s.port); // reads and records, answers no PING
        const begun = once(s.pod.stats.events, "begin");
        rawRpc(c, 1, "Bidi", false);
        await begun;
        assert.equal(s.pod.stats.active, 1);
        const ended = once(s.pod.stats.events, "end");
        clock.advance(60_000);
        await c.until((e) => e.some((l) => l.startsWith("PING ack=false")));
        await c.closed;
        await ended; // the backend's stream was cancelled
        assert.equal(s.proxy.lifetime.stats.keepaliveTimeouts, 1);
        assert.equal(s.events.count("keepalive-timeout"), 1);
      });

      test("a client that answers keeps its connection, ping after ping", async (t) => {
        const s = await setup(t, transport, "keepalive: {time: 50ms, timeout: 5s}");
        const c = await connect(s.port);
        let answered = 0;
        const record = c.recorder.onPing.bind(c.recorder);
        c.recorder.onPing = (payload, ack) => {
          record(payload, ack);
          if (ack) return;
          c.writer.ping(payload, true);
          c.flush();
          answered++;
        };
        await c.until(() => answered >= 4);
        assert.equal(c.goaway(), undefined);
        assert.equal(s.proxy.lifetime.stats.keepaliveTimeouts, 0);
        assert.equal(c.socket.destroyed, false);
        c.close();
      });
    });
  });
